import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AnyConnector } from '@impact-in/core';
import type { HostedConnector } from './app.js';
import { ConfigError } from './config.js';

/** What a connector package offers the host: the connector and, optionally, env-based config. */
export interface ConnectorModule {
  connector: AnyConnector;
  /** Builds the env-default config from seed variable names; `undefined` when not configured. */
  fromEnv?: (env: Record<string, string | undefined>) => unknown;
  /**
   * The connector needs no credentials (e.g. a CSV import): `fromEnv` runs even when none of its
   * variables is set, so every tenant has it configured and enabled by default.
   */
  configuredByDefault?: boolean;
}

function isConnector(value: unknown): value is AnyConnector {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { id?: unknown }).id === 'string' &&
    typeof (value as { config?: { safeParse?: unknown } }).config?.safeParse === 'function'
  );
}

/**
 * Loads third-party connectors named in `IMPACT_IN_PLUGINS` (comma-separated npm package names
 * or file paths). A plugin module exports `connector` (or a default export) and may export
 * `fromEnv(env)`.
 */
export async function loadPlugins(
  specifiers: string | undefined,
  cwd = process.cwd(),
): Promise<ConnectorModule[]> {
  const modules: ConnectorModule[] = [];
  for (const raw of (specifiers ?? '').split(',')) {
    const specifier = raw.trim();
    if (!specifier) continue;
    const target =
      specifier.startsWith('.') || isAbsolute(specifier)
        ? pathToFileURL(resolve(cwd, specifier)).href
        : specifier;
    let loaded: Record<string, unknown>;
    try {
      loaded = (await import(target)) as Record<string, unknown>;
    } catch (error) {
      throw new ConfigError(
        'IMPACT_IN_PLUGINS',
        `could not load "${specifier}": ${(error as Error).message}`,
      );
    }
    const connector = [loaded.connector, loaded.default].find(isConnector);
    if (!connector) {
      throw new ConfigError(
        'IMPACT_IN_PLUGINS',
        `"${specifier}" exports no connector (export \`connector\`)`,
      );
    }
    const fromEnv =
      typeof loaded.fromEnv === 'function' ? (loaded.fromEnv as ConnectorModule['fromEnv']) : undefined;
    modules.push({ connector, ...(fromEnv ? { fromEnv } : {}) });
  }
  return modules;
}

/**
 * Configures each connector from the environment. A connector with none of its variables set
 * (`<ID>_…`) is listed unconfigured: it can take webhooks, not env-default deliveries. A set but
 * invalid configuration stops start-up with the connector's message.
 */
export function configureFromEnv(
  modules: readonly ConnectorModule[],
  env: Record<string, string | undefined>,
): HostedConnector[] {
  const seen = new Set<string>();
  return modules.map((module) => {
    const { connector } = module;
    if (seen.has(connector.id))
      throw new ConfigError('IMPACT_IN_PLUGINS', `connector "${connector.id}" is loaded twice`);
    seen.add(connector.id);
    const prefix = `${connector.id.toUpperCase().replaceAll('-', '_')}_`;
    const touched = Object.entries(env).some(
      ([name, value]) => name.startsWith(prefix) && value !== undefined && value !== '',
    );
    if (!module.fromEnv || (!touched && !module.configuredByDefault)) return { connector };
    let config: unknown;
    try {
      config = module.fromEnv(env);
    } catch (error) {
      throw new ConfigError(`${prefix}*`, `is invalid: ${(error as Error).message}`);
    }
    if (config === undefined) return { connector };
    const parsed = connector.config.safeParse(config);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new ConfigError(`${prefix}*`, `is invalid: ${issue.path.join('.')}: ${issue.message}`);
    }
    return { connector, config: parsed.data };
  });
}
