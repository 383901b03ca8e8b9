import type { AnyConnector, SecretBox, z } from '@impact-in/core';
import type { Kysely } from 'kysely';
import type { HostedConnector } from './app.js';
import { fieldDetails, HttpError } from './http-error.js';
import type { Database } from './postgres/schema.js';

/** What a tenant's integration resolves to: enabled or not, and the config to use. */
export interface ResolvedIntegration {
  enabled: boolean;
  /** The validated config: the tenant's own, else the environment default, else undefined. */
  config: unknown;
  source: 'tenant' | 'environment' | null;
}

export interface HealthRecord {
  ok: boolean;
  latencyMs?: number | undefined;
  message?: string | undefined;
  checkedAt: string;
}

const MASK = '••••';

/** `"••••1234"` for a long secret, `"••••"` for a short one (its end would give too much away). */
export function maskSecret(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value ?? '');
  return text.length >= 12 ? `${MASK}${text.slice(-4)}` : MASK;
}

/** A copy of `config` with every secret field masked. */
export function maskConfig(connector: AnyConnector, config: unknown): Record<string, unknown> | null {
  if (!config || typeof config !== 'object') return null;
  const masked: Record<string, unknown> = { ...(config as Record<string, unknown>) };
  for (const field of connector.secrets) {
    if (masked[field] !== undefined && masked[field] !== null) masked[field] = maskSecret(masked[field]);
  }
  return masked;
}

const isMasked = (value: unknown) => typeof value === 'string' && value.startsWith(MASK);

/**
 * Per-tenant integration config: enablement, the config sealed with the secret box, health.
 * Reads are cached briefly (`cacheTtlMs`, default 2 s), so the delivery hot path does not query
 * per attempt; a change made on this replica is seen at once, on another within the TTL.
 */
export class TenantIntegrations {
  readonly #db: Kysely<Database>;
  readonly #box: SecretBox;
  readonly #connectors: ReadonlyMap<string, HostedConnector>;
  readonly #ttlMs: number;
  readonly #cache = new Map<string, { value: Promise<ResolvedIntegration>; until: number }>();

  constructor(options: {
    db: Kysely<Database>;
    box: SecretBox;
    connectors: ReadonlyMap<string, HostedConnector>;
    cacheTtlMs?: number;
  }) {
    this.#db = options.db;
    this.#box = options.box;
    this.#connectors = options.connectors;
    this.#ttlMs = options.cacheTtlMs ?? 2_000;
  }

  #hosted(provider: string): HostedConnector {
    const hosted = this.#connectors.get(provider);
    if (!hosted) {
      throw new HttpError(404, 'unknown_provider', `no connector "${provider}" is installed`, [
        { field: 'provider', message: `must be one of: ${[...this.#connectors.keys()].join(', ')}` },
      ]);
    }
    return hosted;
  }

  async #row(tenantId: string, provider: string) {
    return this.#db
      .selectFrom('tenant_integrations')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('provider', '=', provider)
      .executeTakeFirst();
  }

  /** The tenant's stored config (unsealed, as written), or undefined. */
  async #storedConfig(tenantId: string, sealed: string | null): Promise<Record<string, unknown> | undefined> {
    if (!sealed) return undefined;
    return JSON.parse(this.#box.decrypt(tenantId, sealed)) as Record<string, unknown>;
  }

  /**
   * The integration as deliveries see it. Without a row of its own a tenant uses the environment
   * default, enabled when the environment configured it (a single-tenant host needs no setup).
   */
  resolve(tenantId: string, provider: string): Promise<ResolvedIntegration> {
    const key = `${tenantId}\u0000${provider}`;
    const now = Date.now();
    const cached = this.#cache.get(key);
    if (cached && cached.until > now) return cached.value;
    const value = this.#resolveNow(tenantId, provider);
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(key, { value, until: now + this.#ttlMs });
    value.catch(() => this.#cache.delete(key));
    return value;
  }

  async #resolveNow(tenantId: string, provider: string): Promise<ResolvedIntegration> {
    const hosted = this.#connectors.get(provider);
    if (!hosted) return { enabled: false, config: undefined, source: null };
    const row = /^[0-9a-f-]{36}$/i.test(tenantId) ? await this.#row(tenantId, provider) : undefined;
    if (!row) {
      return {
        enabled: hosted.config !== undefined,
        config: hosted.config,
        source: hosted.config === undefined ? null : 'environment',
      };
    }
    const stored = await this.#storedConfig(tenantId, row.config_sealed);
    const config = stored ? hosted.connector.config.parse(stored) : hosted.config;
    return {
      enabled: row.enabled && config !== undefined,
      config,
      source: stored ? 'tenant' : config === undefined ? null : 'environment',
    };
  }

  invalidate(tenantId: string, provider: string): void {
    this.#cache.delete(`${tenantId}\u0000${provider}`);
  }

  /** Every installed connector as this tenant sees it. */
  async list(tenantId: string) {
    const rows = await this.#db
      .selectFrom('tenant_integrations')
      .select(['provider', 'enabled', 'last_health', 'updated_at'])
      .where('tenant_id', '=', tenantId)
      .execute();
    const byProvider = new Map(rows.map((row) => [row.provider, row]));
    const result = [];
    for (const [provider, hosted] of this.#connectors) {
      const resolved = await this.resolve(tenantId, provider);
      const row = byProvider.get(provider);
      const { connector } = hosted;
      result.push({
        provider,
        displayName: connector.displayName ?? provider,
        enabled: resolved.enabled,
        configured: resolved.config !== undefined,
        source: resolved.source,
        capabilities: (['deliver', 'webhook', 'ingest', 'import', 'health'] as const).filter(
          (capability) => typeof connector[capability] === 'function',
        ),
        lastHealth: (row?.last_health as HealthRecord | null | undefined) ?? null,
        updatedAt: row ? new Date(row.updated_at).toISOString() : null,
      });
    }
    return result;
  }

  /** The config view a GET returns: secrets masked. */
  async view(tenantId: string, provider: string) {
    const hosted = this.#hosted(provider);
    const resolved = await this.resolve(tenantId, provider);
    return {
      provider,
      enabled: resolved.enabled,
      configured: resolved.config !== undefined,
      source: resolved.source,
      config: maskConfig(hosted.connector, resolved.source === 'tenant' ? resolved.config : null),
      secretFields: [...hosted.connector.secrets],
    };
  }

  /**
   * Writes the tenant's config and/or enablement. Secret fields left out, or sent back masked,
   * keep their stored value. The config is validated by the connector's own schema.
   * Returns the masked before/after, for the audit log.
   */
  async put(
    tenantId: string,
    provider: string,
    change: { config?: Record<string, unknown> | undefined; enabled?: boolean | undefined },
  ) {
    const hosted = this.#hosted(provider);
    const { connector } = hosted;
    const row = await this.#row(tenantId, provider);
    const stored = row ? await this.#storedConfig(tenantId, row.config_sealed) : undefined;
    let sealed = row?.config_sealed ?? null;
    let next = stored;
    if (change.config !== undefined) {
      const merged: Record<string, unknown> = { ...change.config };
      for (const field of connector.secrets) {
        if ((merged[field] === undefined || isMasked(merged[field])) && stored?.[field] !== undefined) {
          merged[field] = stored[field];
        } else if (isMasked(merged[field])) {
          delete merged[field];
        }
      }
      const parsed = connector.config.safeParse(merged);
      if (!parsed.success) {
        throw new HttpError(
          400,
          'validation_error',
          `the ${provider} config does not validate`,
          fieldDetails(parsed.error.issues as z.core.$ZodIssue[], 'config'),
        );
      }
      next = merged;
      sealed = this.#box.encrypt(tenantId, JSON.stringify(merged));
    }
    // Left out, `enabled` keeps its current effective value (an env default is enabled).
    const enabled = change.enabled ?? row?.enabled ?? hosted.config !== undefined;
    if (enabled && !next && hosted.config === undefined) {
      throw new HttpError(409, 'not_configured', `configure ${provider} before enabling it`, [
        { field: 'config', message: 'required to enable this integration' },
      ]);
    }
    const now = new Date();
    await this.#db
      .insertInto('tenant_integrations')
      .values({
        tenant_id: tenantId,
        provider,
        enabled,
        config_sealed: sealed,
        last_health: null,
        updated_at: now,
      })
      .onConflict((conflict) =>
        conflict
          .columns(['tenant_id', 'provider'])
          .doUpdateSet({ enabled, config_sealed: sealed, updated_at: now }),
      )
      .execute();
    this.invalidate(tenantId, provider);
    return {
      before: row
        ? { enabled: row.enabled, config: maskConfig(connector, stored) }
        : { enabled: hosted.config !== undefined, config: null },
      after: { enabled, config: maskConfig(connector, next) },
    };
  }

  async recordHealth(tenantId: string, provider: string, health: HealthRecord): Promise<void> {
    await this.#db
      .updateTable('tenant_integrations')
      .set({ last_health: JSON.stringify(health) })
      .where('tenant_id', '=', tenantId)
      .where('provider', '=', provider)
      .execute();
  }

  /** Providers this tenant delivers to: enabled, configured, able to deliver. */
  async deliveryTargets(tenantId: string): Promise<string[]> {
    const targets: string[] = [];
    for (const [provider, hosted] of this.#connectors) {
      if (!hosted.connector.deliver) continue;
      if ((await this.resolve(tenantId, provider)).enabled) targets.push(provider);
    }
    return targets;
  }
}

/**
 * Re-encrypts every sealed value not written under the current key: tenant configs and OAuth
 * tokens. Each row is swapped only if nobody changed it meanwhile, so it runs beside live traffic,
 * and both keys stay readable throughout.
 */
export async function rotateSecrets(
  db: Kysely<Database>,
  box: SecretBox,
  options: { batchSize?: number; onBatch?: () => Promise<void> | void } = {},
): Promise<{ integrations: number; tokens: number; tenants: Map<string, number> }> {
  const batchSize = options.batchSize ?? 500;
  const tenants = new Map<string, number>();
  const count = (tenant: string, updated: number) => {
    if (updated > 0) tenants.set(tenant, (tenants.get(tenant) ?? 0) + updated);
    return updated;
  };
  const current = `ib1:${box.currentKeyId}:%`;
  let integrations = 0;
  for (;;) {
    const rows = await db
      .selectFrom('tenant_integrations')
      .select(['tenant_id', 'provider', 'config_sealed'])
      .where('config_sealed', 'is not', null)
      .where('config_sealed', 'not like', current)
      .limit(batchSize)
      .execute();
    if (rows.length === 0) break;
    for (const row of rows) {
      const rotated = box.rotate(row.tenant_id, row.config_sealed!);
      const result = await db
        .updateTable('tenant_integrations')
        .set({ config_sealed: rotated })
        .where('tenant_id', '=', row.tenant_id)
        .where('provider', '=', row.provider)
        .where('config_sealed', '=', row.config_sealed)
        .executeTakeFirst();
      integrations += count(row.tenant_id, Number(result.numUpdatedRows));
    }
    await options.onBatch?.();
  }
  let tokens = 0;
  for (;;) {
    const rows = await db
      .selectFrom('impact_provider_tokens')
      .select(['key', 'token'])
      .where('token', 'not like', current)
      .limit(batchSize)
      .execute();
    if (rows.length === 0) break;
    for (const row of rows) {
      const tenant = row.key.split(':')[0] ?? '';
      // Tokens written before sealing existed are plain JSON: seal them now.
      const rotated = row.token.startsWith('ib1:')
        ? box.rotate(tenant, row.token)
        : box.encrypt(tenant, row.token);
      const result = await db
        .updateTable('impact_provider_tokens')
        .set({ token: rotated })
        .where('key', '=', row.key)
        .where('token', '=', row.token)
        .executeTakeFirst();
      tokens += count(tenant, Number(result.numUpdatedRows));
    }
    await options.onBatch?.();
  }
  return { integrations, tokens, tenants };
}
