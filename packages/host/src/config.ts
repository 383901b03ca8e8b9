import { z } from '@impact-in/core';

const MiB = 1024 * 1024;

/**
 * The host's own settings, read from the environment once at start-up. Provider variables
 * (`BENEVITY_*`, `GOODERA_*`, `WORKDAY_*`) are read by each connector's `fromEnv`.
 */
export const HostEnvSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .optional(),
  NATS_URL: z
    .string()
    .regex(/^nats:\/\//, 'must be a nats:// URL')
    .optional(),
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'must be a redis:// URL')
    .optional(),
  PORT: z.coerce.number().int().min(0).max(65_535).default(3007),
  HOST: z.string().min(1).default('127.0.0.1'),
  IMPACT_IN_DATA_DIR: z.string().min(1).default('./.impact-in'),
  IMPACT_IN_MASTER_KEY: z
    .string()
    .refine((value) => {
      const bytes = /^[0-9a-f]{64}$/i.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value, 'base64');
      return bytes.length === 32;
    }, 'must be 32 bytes, as 64 hex characters or base64')
    .optional(),
  /** Older master keys, comma separated: still read, never written (during a rotation). */
  IMPACT_IN_PREVIOUS_MASTER_KEYS: z.string().optional(),
  /** OIDC bearer tokens (e.g. Google SSO): the issuer (`iss`) accepted. Unset: API keys only. */
  IMPACT_IN_OIDC_ISSUER: z.url('must be the issuer URL, e.g. https://accounts.google.com').optional(),
  /** The audience (`aud`) tokens must be addressed to: the OAuth client id. */
  IMPACT_IN_OIDC_AUDIENCE: z.string().min(1).optional(),
  /** The issuer's JWKS. Default: `jwks_uri` from the issuer's discovery document. */
  IMPACT_IN_OIDC_JWKS_URL: z.url('must be a URL').optional(),
  /** The claim holding the tenant id. Default `tenant_id`. */
  IMPACT_IN_OIDC_TENANT_CLAIM: z.string().min(1).default('tenant_id'),
  /** The claim holding the role (`viewer`, `operator`, `admin`). Default `role`. */
  IMPACT_IN_OIDC_ROLE_CLAIM: z.string().min(1).default('role'),
  /** Accepted signing algorithms, comma separated. Default `RS256,ES256,EdDSA`. */
  IMPACT_IN_OIDC_ALGORITHMS: z
    .string()
    .default('RS256,ES256,EdDSA')
    .transform((value) =>
      value
        .split(',')
        .map((alg) => alg.trim())
        .filter(Boolean),
    )
    .refine(
      (algs) => algs.length > 0 && !algs.some((alg) => alg.toLowerCase() === 'none'),
      'must list signing algorithms, never "none"',
    ),
  /** Requests a minute each key (or OIDC subject) may make to the admin API (`/v1/tenants/…`). */
  IMPACT_IN_ADMIN_RATE_LIMIT: z.coerce.number().int().min(1).max(100_000).default(120),
  IMPACT_IN_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1_024).default(16),
  /** How long a claimed delivery stays leased to a worker; a crashed worker's work waits this long. */
  IMPACT_IN_LEASE_MS: z.coerce.number().int().min(1_000).max(3_600_000).default(300_000),
  /** PostgreSQL connections per process. Writes are batched, so a few go a long way. */
  IMPACT_IN_DB_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(10),
  IMPACT_IN_POLL_INTERVAL_MS: z.coerce.number().int().min(5).max(60_000).default(500),
  IMPACT_IN_BODY_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1_024)
    .default(1 * MiB),
  /** CSV uploads (`/v1/import/sessions`) may be this large. Default 100 MiB. */
  IMPACT_IN_IMPORT_LIMIT_BYTES: z.coerce
    .number()
    .int()
    .min(1_024)
    .default(100 * MiB),
  /** Where uploads are kept (the local-folder BlobStore). Default `<IMPACT_IN_DATA_DIR>/blobs`. */
  IMPACT_IN_BLOB_DIR: z.string().min(1).optional(),
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export type HostEnv = z.infer<typeof HostEnvSchema>;

/** A configuration problem, naming the variable. */
export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(`[impact-in] invalid configuration: ${variable} ${message}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates the environment. Throws a {@link ConfigError} naming the first bad variable.
 *
 * @example const env = loadHostEnv(process.env);
 */
export function loadHostEnv(env: Record<string, string | undefined>): HostEnv {
  // Empty strings mean "not set" (a common shell and compose idiom).
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([, value]) => value !== undefined && value !== ''),
  );
  const parsed = HostEnvSchema.safeParse(cleaned);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(String(issue.path[0] ?? 'environment'), issue.message);
  }
  if (parsed.data.IMPACT_IN_OIDC_ISSUER && !parsed.data.IMPACT_IN_OIDC_AUDIENCE) {
    throw new ConfigError('IMPACT_IN_OIDC_AUDIENCE', 'is required when IMPACT_IN_OIDC_ISSUER is set');
  }
  return parsed.data;
}
