import { z } from '@impact-in/core';

/** Goodera's published limit: 100 requests a minute per OAuth client. */
export const GOODERA_RATE_LIMIT = Object.freeze({ maxRequests: 100, windowMs: 60_000 });

const httpUrl = (what: string) =>
  z
    .url({ protocol: /^https?$/, error: `must be an http(s) URL: ${what}` })
    // One trailing slash would double the slash in `${apiUrl}/v2/...`.
    .transform((url) => url.replace(/\/+$/, ''));

const WebhookSchema = z.object({
  /** Where Goodera publishes the keys it signs webhook tokens with (RS256/ES256/EdDSA). */
  jwksUrl: httpUrl("Goodera's JWKS URL").optional(),
  /** The `iss` every webhook token must carry. */
  issuer: z.string({ error: "required: the webhook token's expected issuer (iss)" }).min(1),
  /** The `aud` a webhook token must be addressed to (one of them, when a list). */
  audience: z.union(
    [z.string().min(1), z.array(z.string().min(1)).min(1)],
    "required: the webhook token's expected audience (aud)",
  ),
  /** Tokens issued longer ago than this are refused, even when not yet expired. Default 300. */
  maxTokenAgeSeconds: z.number().int().positive().default(300),
  /** Allowed clock difference for `exp`, `nbf` and `iat`. Default 5. */
  clockToleranceSeconds: z.number().int().min(0).max(300).default(5),
  /**
   * The token carries `body_sha256` (base64url SHA-256 of the raw body), binding it to the body.
   * Default `true`: a token without it is refused. With `false` a present claim is still checked.
   */
  requireBodyHash: z.boolean().default(true),
});

/**
 * Config of the Goodera connector. Secrets: `clientSecret` and `webhookSharedSecret`.
 *
 * @example
 * GooderaConfigSchema.parse({
 *   apiUrl: 'https://api.goodera.com',
 *   tokenUrl: 'https://api.goodera.com/oauth/token',
 *   clientId: 'client-id',
 *   clientSecret: 'client-secret',
 * });
 */
export const GooderaConfigSchema = z
  .object({
    /** Base URL of the API, e.g. `https://api.goodera.com`. */
    apiUrl: httpUrl('the Goodera API base, e.g. https://api.goodera.com'),
    /** OAuth 2.0 token endpoint, e.g. `https://api.goodera.com/oauth/token`. */
    tokenUrl: httpUrl('the OAuth token endpoint, e.g. https://api.goodera.com/oauth/token'),
    clientId: z.string({ error: 'required: the Goodera OAuth client id' }).min(1),
    clientSecret: z.string({ error: 'required: the Goodera OAuth client secret' }).min(1),
    /** How the client authenticates to the token endpoint. */
    authMethod: z.enum(['client_secret_post', 'client_secret_basic']).default('client_secret_post'),
    scope: z.string().min(1).optional(),
    /** Refresh the access token this long before it expires. Default 60. */
    tokenSkewSeconds: z.number().int().min(0).max(3_600).default(60),
    /** Requests per window for this client id. Default Goodera's 100 per minute. */
    rateLimit: z
      .object({
        maxRequests: z.number().int().positive().default(GOODERA_RATE_LIMIT.maxRequests),
        windowMs: z.number().int().positive().default(GOODERA_RATE_LIMIT.windowMs),
      })
      .default({ ...GOODERA_RATE_LIMIT }),
    /** Inbound webhook verification. Without it, `webhook` refuses every request. */
    webhook: WebhookSchema.optional(),
    /** HS256 secret shared with Goodera for webhook tokens (instead of, or besides, `webhook.jwksUrl`). */
    webhookSharedSecret: z
      .string()
      .min(32, 'must be at least 32 characters (HS256 needs 256 bits)')
      .optional(),
  })
  .superRefine((config, issues) => {
    if (config.webhook && !config.webhook.jwksUrl && !config.webhookSharedSecret) {
      issues.addIssue({
        code: 'custom',
        path: ['webhook', 'jwksUrl'],
        message: 'set webhook.jwksUrl or webhookSharedSecret to verify webhook tokens',
      });
    }
  });

/** A validated Goodera config. */
export type GooderaConfig = z.output<typeof GooderaConfigSchema>;
/** What you write: defaults may be left out. */
export type GooderaConfigInput = z.input<typeof GooderaConfigSchema>;

/** Which environment variable fills which config field. The first four are seed 002's. */
export const GOODERA_ENV = Object.freeze({
  apiUrl: 'GOODERA_API_URL',
  tokenUrl: 'GOODERA_TOKEN_URL',
  clientId: 'GOODERA_CLIENT_ID',
  clientSecret: 'GOODERA_CLIENT_SECRET',
  authMethod: 'GOODERA_AUTH_METHOD',
  scope: 'GOODERA_SCOPE',
  'rateLimit.maxRequests': 'GOODERA_RATE_LIMIT_PER_MINUTE',
  'webhook.jwksUrl': 'GOODERA_WEBHOOK_JWKS_URL',
  'webhook.issuer': 'GOODERA_WEBHOOK_ISSUER',
  'webhook.audience': 'GOODERA_WEBHOOK_AUDIENCE',
  webhookSharedSecret: 'GOODERA_WEBHOOK_SECRET',
});

/**
 * Builds a Goodera config from environment variables (seed 002's `GOODERA_API_URL`,
 * `GOODERA_TOKEN_URL`, `GOODERA_CLIENT_ID`, `GOODERA_CLIENT_SECRET`, plus the optional ones in
 * {@link GOODERA_ENV}). Takes the environment as an argument: the connector never reads
 * `process.env` itself. Returns `undefined` when no `GOODERA_*` variable is set (the connector is
 * not configured); throws naming the variable when one is missing or wrong.
 *
 * @example
 * const config = fromEnv(process.env);
 * if (config) connectors.push(bindConnector(goodera, config));
 */
export function fromEnv(env: Record<string, string | undefined>): GooderaConfig | undefined {
  const read = (name: string) => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  if (!Object.values(GOODERA_ENV).some((name) => read(name) !== undefined)) return undefined;

  const perMinute = read(GOODERA_ENV['rateLimit.maxRequests']);
  const issuer = read(GOODERA_ENV['webhook.issuer']);
  const audience = read(GOODERA_ENV['webhook.audience']);
  const jwksUrl = read(GOODERA_ENV['webhook.jwksUrl']);
  const audiences = audience
    ?.split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  const input = {
    apiUrl: read(GOODERA_ENV.apiUrl),
    tokenUrl: read(GOODERA_ENV.tokenUrl),
    clientId: read(GOODERA_ENV.clientId),
    clientSecret: read(GOODERA_ENV.clientSecret),
    authMethod: read(GOODERA_ENV.authMethod),
    scope: read(GOODERA_ENV.scope),
    rateLimit: perMinute === undefined ? undefined : { maxRequests: Number(perMinute), windowMs: 60_000 },
    webhook:
      issuer === undefined && audience === undefined && jwksUrl === undefined
        ? undefined
        : {
            issuer,
            audience: audiences && audiences.length === 1 ? audiences[0] : audiences,
            jwksUrl,
          },
    webhookSharedSecret: read(GOODERA_ENV.webhookSharedSecret),
  };
  const parsed = GooderaConfigSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const names: Record<string, string> = GOODERA_ENV;
  const problems = parsed.error.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    const variable = names[path] ?? names[path.split('.')[0] ?? ''] ?? path;
    // Never echo a value: it may be a secret.
    return `${variable}: ${issue.message}`;
  });
  throw new Error(`[impact-in] [goodera] invalid environment: ${problems.join('; ')}`);
}
