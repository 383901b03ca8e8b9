import type { z } from 'zod';
import type { Clock } from './clock.js';
import type { ErrorKind, FieldIssue, ImpactInError } from './errors.js';
import type { HttpClient, HttpResponse } from './http-client.js';
import type { TokenStore } from './interfaces.js';
import type { Logger } from './logger.js';
import type { RateLimitSpec } from './rate-limiter.js';
import type { RetryPolicy } from './retry-policy.js';
import type { ImpactEvent, InboundRecord } from './schemas.js';

/**
 * The tenant's platform users, as a connector can look them up. Batched: an importer resolves a
 * whole batch of rows in one call, so a database-backed directory costs one query per batch.
 */
export interface IdentityDirectory {
  /** External ids (of `provider`) to platform user ids. Missing keys = no mapping. */
  byExternalIds(provider: string, externalIds: readonly string[]): Promise<Map<string, string>>;
  /** Normalised (trimmed, lower-cased, NFC) emails to platform user ids. Missing keys = unknown. */
  byEmails(emails: readonly string[]): Promise<Map<string, string>>;
}

/** What every capability receives: its tools, never globals or `process.env`. */
export interface ConnectorContext<TConfig> {
  /** The validated config for this tenant. */
  config: TConfig;
  /** The tenant (companyId) this call is for. */
  companyId: string;
  http: HttpClient;
  tokens: TokenStore;
  logger: Logger;
  clock: Clock;
  signal: AbortSignal;
  /**
   * The tenant's user directory, when the caller has one (the host gives its own to webhooks):
   * connectors map the people a provider names to platform users with it.
   */
  identity?: IdentityDirectory | undefined;
}

export interface DeliverInput {
  event: ImpactEvent;
  /** Send as the idempotency key; stable across retries and replays. */
  deliveryId: string;
  /** 1 for the first attempt. */
  attempt: number;
}

/** What a deliver capability reports: what it sent and what came back. */
export interface DeliverResult {
  /** Exactly what was sent (the JSON value, or the XML text). */
  payload: unknown;
  response: HttpResponse;
}

/** A raw inbound HTTP request, before anything is parsed. */
export interface RawRequest {
  method: string;
  url: string;
  /** Lower-case header names. */
  headers: Record<string, string>;
  /** The exact body bytes as received. */
  body: Uint8Array;
}

export interface HealthResult {
  ok: boolean;
  latencyMs?: number;
  message?: string;
}

export interface ImportOptions {
  /** Stop at the first bad row instead of importing the good ones. */
  strict?: boolean;
  /** Extra, connector-specific options (mappings, campaign rules). */
  [option: string]: unknown;
}

/** One item an import yields: a good record or a bad row with its place. */
export type ImportItem =
  | { ok: true; line: number; record: InboundRecord }
  | { ok: false; line: number; column?: string; message: string };

/**
 * A provider plugin. Build it with {@link defineConnector}; only `id` and `config` are required.
 */
export interface Connector<TConfig = unknown> {
  id: string;
  displayName?: string;
  /** zod schema of the config; run on every config before use. */
  config: z.ZodType<TConfig>;
  /** Names of config fields that are secrets: encrypted at rest, masked, never logged. */
  secrets: readonly string[];
  /** The provider's published limit. A function may derive it from the config. */
  rateLimit?: RateLimitSpec | ((config: TConfig) => RateLimitSpec | undefined);
  /** Rate-limit bucket and token-cache identity of a config, e.g. the client id. Default: the tenant. */
  credentialKey?: (config: TConfig) => string;
  /** Overrides of the default retry policy. */
  retryPolicy?: Partial<RetryPolicy>;
  /**
   * Classifies a provider answer. Return an error to fail the attempt, `null` for success, or
   * `undefined` to use the default (2xx success, status table otherwise).
   */
  classifyResponse?: (response: HttpResponse, config: TConfig) => ImpactInError | null | undefined;
  deliver?: (input: DeliverInput, context: ConnectorContext<TConfig>) => Promise<DeliverResult>;
  /** Verifies a webhook over the raw request, then parses it. Throws `PermanentError` when unverified. */
  webhook?: (request: RawRequest, context: ConnectorContext<TConfig>) => Promise<InboundRecord[]>;
  /** Parses a provider payload of a given kind (`volunteers`, `donations`, `directory`, …). */
  ingest?: (kind: string, body: unknown, context: ConnectorContext<TConfig>) => Promise<InboundRecord[]>;
  /** Streams records out of an uploaded export (CSV bytes in). */
  import?: (
    source: AsyncIterable<Uint8Array>,
    options: ImportOptions,
    context: ConnectorContext<TConfig>,
  ) => AsyncIterable<ImportItem>;
  /** A cheap connectivity and credential probe. */
  health?: (context: ConnectorContext<TConfig>) => Promise<HealthResult>;
}

/** The keys of every member of a union (plain `keyof` keeps only the shared ones). */
type KeysOfUnion<T> = T extends unknown ? keyof T : never;

/** Any connector, whatever its config type. */
// biome-ignore lint/suspicious/noExplicitAny: the registry holds connectors of every config type
export type AnyConnector = Connector<any>;

/** The config type of a connector. */
export type ConnectorConfig<C> = C extends Connector<infer T> ? T : never;

/**
 * Defines a connector. A factory function keeps plugins plain objects that are easy to test.
 *
 * @example
 * export const echo = defineConnector({
 *   id: 'echo',
 *   config: z.object({ url: z.url(), apiKey: z.string() }),
 *   secrets: ['apiKey'],
 *   async deliver({ event, deliveryId }, { config, http, signal }) {
 *     const body = JSON.stringify(event);
 *     const response = await http.request({ method: 'POST', url: config.url, body, signal,
 *       headers: { 'content-type': 'application/json', 'x-idempotency-key': deliveryId } });
 *     return { payload: event, response };
 *   },
 * });
 */
export function defineConnector<TSchema extends z.ZodType>(
  definition: Omit<Connector<z.output<TSchema>>, 'secrets' | 'config'> & {
    config: TSchema;
    secrets?: readonly (KeysOfUnion<z.output<TSchema>> & string)[];
  },
): Connector<z.output<TSchema>> & { config: TSchema } {
  if (!/^[a-z][a-z0-9-]*$/.test(definition.id)) {
    throw new Error(`[impact-in] connector id "${definition.id}" must be a lower-case slug`);
  }
  return { ...definition, secrets: definition.secrets ?? [] } as Connector<z.output<TSchema>> & {
    config: TSchema;
  };
}

/** A connector paired with a validated config: what the dispatcher is given. */
export interface ConnectorBinding<TConfig = unknown> {
  connector: Connector<TConfig>;
  config: TConfig;
}

/** A binding of any config type. */
// biome-ignore lint/suspicious/noExplicitAny: the dispatcher holds bindings of every config type
export type AnyConnectorBinding = ConnectorBinding<any>;

/**
 * Validates `config` with the connector's schema and pairs them. Errors name the field.
 *
 * @example bindConnector(goodera, { apiUrl, tokenUrl, clientId, clientSecret })
 */
export function bindConnector<C extends AnyConnector>(
  connector: C,
  config: C extends { config: infer S extends z.ZodType } ? z.input<S> : unknown,
): ConnectorBinding<ConnectorConfig<C>> {
  const parsed = connector.config.safeParse(config);
  if (!parsed.success) {
    // A schema may accept `undefined` (`.default({})`): only a refused one is "no config".
    if (config === undefined || config === null) {
      throw new Error(
        `[impact-in] [${connector.id}] no config: bindConnector was given ${String(config)} (a connector's fromEnv gives undefined when none of its variables is set)`,
      );
    }
    const issues = parsed.error.issues
      .map((issue: z.core.$ZodIssue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`)
      .join('; ');
    throw new Error(`[impact-in] [${connector.id}] invalid config: ${issues}`);
  }
  return { connector, config: parsed.data } as ConnectorBinding<ConnectorConfig<C>>;
}

export type { ErrorKind, FieldIssue };
