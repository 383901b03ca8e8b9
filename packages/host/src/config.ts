import { z } from '@impact-in/core';
// A type only: the AWS SDK is loaded only when a bucket is configured.
import type { S3BlobStoreOptions } from './imports/s3-blob-store.js';

const MiB = 1024 * 1024;

/** S3 bucket names: 3–63 lower-case letters, digits, `.` and `-`. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const BUCKET_MESSAGE = 'must be a bucket name (3-63 lower-case letters, digits, "." and "-")';
const PREFIX = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,199})*$/;

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
  /**
   * On SIGTERM, how long in-flight delivery attempts may run before they are aborted; an aborted
   * attempt is recorded as `retrying`, due at once, for another replica (or the next start).
   */
  IMPACT_IN_SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(10_000),
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
  /**
   * Uploads in an S3 bucket instead of the local folder. The other `S3_*` variables need it.
   * `S3_ACCESS_KEY_ID`/`S3_SECRET_ACCESS_KEY` unset: the AWS SDK's default credential chain.
   */
  S3_BUCKET: z.string().regex(BUCKET, BUCKET_MESSAGE).optional(),
  /** An S3-compatible endpoint (MinIO, Ceph…); unset: AWS S3. */
  S3_ENDPOINT: z.url('must be a URL, e.g. http://minio:9000').optional(),
  /** Unset: `us-east-1` with `S3_ENDPOINT`, else the AWS SDK's resolution (`AWS_REGION`, profile). */
  S3_REGION: z.string().min(1).optional(),
  S3_ACCESS_KEY_ID: z.string().min(1).optional(),
  S3_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  /** Path-style URLs (`<endpoint>/<bucket>/<key>`). Default: on with `S3_ENDPOINT`, off without. */
  S3_FORCE_PATH_STYLE: z
    .enum(['true', 'false', '1', '0'], 'must be true or false')
    .transform((value) => value === 'true' || value === '1')
    .optional(),
  /** A folder for this host's objects in a shared bucket (`S3_BUCKET` or `R2_BUCKET_NAME`). */
  S3_PREFIX: z.string().regex(PREFIX, 'must be /-separated letters, digits, ".", "_" and "-"').optional(),
  /** Uploads in a Cloudflare R2 bucket (seed 000's names): all four `R2_*` variables together. */
  R2_BUCKET_NAME: z.string().regex(BUCKET, BUCKET_MESSAGE).optional(),
  R2_ENDPOINT: z.url('must be a URL, e.g. https://<account id>.r2.cloudflarestorage.com').optional(),
  R2_ACCESS_KEY_ID: z.string().min(1).optional(),
  R2_SECRET_ACCESS_KEY: z.string().min(1).optional(),
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
  checkBlobSettings(parsed.data);
  return parsed.data;
}

const R2_VARIABLES = ['R2_BUCKET_NAME', 'R2_ENDPOINT', 'R2_ACCESS_KEY_ID', 'R2_SECRET_ACCESS_KEY'] as const;
const S3_VARIABLES = [
  'S3_ENDPOINT',
  'S3_REGION',
  'S3_ACCESS_KEY_ID',
  'S3_SECRET_ACCESS_KEY',
  'S3_FORCE_PATH_STYLE',
] as const;

/** The object-store variables fit together: one store, all of R2's four, both halves of a key. */
function checkBlobSettings(env: HostEnv): void {
  const r2 = R2_VARIABLES.filter((name) => env[name] !== undefined);
  if (r2.length > 0) {
    // R2's endpoint, region and keys come from R2_*: an S3_* setting beside them would be ignored.
    const s3 = (['S3_BUCKET', ...S3_VARIABLES] as const).find((name) => env[name] !== undefined);
    if (s3) {
      throw new ConfigError(s3, `and ${r2[0]} are both set: uploads go to one store, use S3_* or R2_*`);
    }
    const missing = R2_VARIABLES.find((name) => env[name] === undefined);
    if (missing)
      throw new ConfigError(missing, `is required when ${r2[0]} is set (R2 needs all four R2_* variables)`);
    return;
  }
  const s3 = S3_VARIABLES.find((name) => env[name] !== undefined);
  if (s3 && env.S3_BUCKET === undefined) throw new ConfigError('S3_BUCKET', `is required when ${s3} is set`);
  if (env.S3_PREFIX !== undefined && env.S3_BUCKET === undefined) {
    throw new ConfigError('S3_BUCKET', 'or R2_BUCKET_NAME is required when S3_PREFIX is set');
  }
  if ((env.S3_ACCESS_KEY_ID === undefined) !== (env.S3_SECRET_ACCESS_KEY === undefined)) {
    const missing = env.S3_ACCESS_KEY_ID === undefined ? 'S3_ACCESS_KEY_ID' : 'S3_SECRET_ACCESS_KEY';
    throw new ConfigError(missing, 'is required with the other half of the key (or set neither)');
  }
}

/** Where uploads go, from the environment: an S3 (or R2) bucket, or the local folder (undefined). */
export function objectStoreOptions(env: HostEnv): S3BlobStoreOptions | undefined {
  if (env.R2_BUCKET_NAME) {
    return {
      bucket: env.R2_BUCKET_NAME,
      prefix: env.S3_PREFIX,
      endpoint: env.R2_ENDPOINT,
      region: 'auto',
      credentials: { accessKeyId: env.R2_ACCESS_KEY_ID!, secretAccessKey: env.R2_SECRET_ACCESS_KEY! },
      forcePathStyle: undefined,
    };
  }
  if (!env.S3_BUCKET) return undefined;
  return {
    bucket: env.S3_BUCKET,
    prefix: env.S3_PREFIX,
    endpoint: env.S3_ENDPOINT,
    region: env.S3_REGION,
    credentials:
      env.S3_ACCESS_KEY_ID && env.S3_SECRET_ACCESS_KEY
        ? { accessKeyId: env.S3_ACCESS_KEY_ID, secretAccessKey: env.S3_SECRET_ACCESS_KEY }
        : undefined,
    forcePathStyle: env.S3_FORCE_PATH_STYLE ?? (env.S3_ENDPOINT ? true : undefined),
  };
}
