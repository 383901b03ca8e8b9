import { z } from '@impact-in/core';

/** The provider id: the dispatcher's `provider`, the error prefix, the token-store key part. */
export const PROVIDER = 'benevity';

const httpUrl = (field: string) =>
  z
    .url({
      protocol: /^https?$/,
      error: (issue) =>
        issue.input === undefined ? `${field} is required` : `${field} must be an http(s) URL`,
    })
    // Paths are appended to it: `https://api.benevity.com/` and `https://api.benevity.com` are the same.
    .transform((value) => value.replace(/\/+$/, ''));

const required = (field: string) =>
  z
    .string({
      error: (issue) => (issue.input === undefined ? `${field} is required` : `${field} must be a string`),
    })
    .trim()
    .min(1, `${field} must not be empty`);

/** Settings both auth modes share. */
const common = {
  /** Base URL of the Benevity API, e.g. `https://api.benevity.com`. */
  apiUrl: httpUrl('apiUrl'),
  /**
   * Optional client-side cap, in requests per minute per credential. Benevity publishes no fixed
   * limit; its 429 answers (with `Retry-After`) pause the credential either way.
   */
  requestsPerMinute: z
    .number({ error: 'requestsPerMinute must be a number' })
    .int('requestsPerMinute must be a whole number')
    .positive('requestsPerMinute must be greater than 0')
    .max(100_000, 'requestsPerMinute must be at most 100000')
    .optional(),
};

/** API key mode (seed 002): `X-API-Key` plus an `X-Benevity-Signature` HMAC of the body. */
export const ApiKeyConfigSchema = z.object({
  /** `api_key` (the default) or `oauth`. */
  auth: z.literal('api_key').default('api_key'),
  ...common,
  apiKey: required('apiKey'),
  /** Signs outbound bodies and verifies inbound webhooks (Benevity: Webhooks → Signing Secret). */
  signatureSecret: required('signatureSecret'),
});

/** OAuth 2.0 client credentials mode: a one-hour bearer token instead of the API key. */
export const OAuthConfigSchema = z.object({
  auth: z.literal('oauth'),
  ...common,
  tokenUrl: httpUrl('tokenUrl'),
  clientId: required('clientId'),
  clientSecret: required('clientSecret'),
  /** How the client authenticates at the token endpoint. */
  authMethod: z.enum(['client_secret_post', 'client_secret_basic']).default('client_secret_post'),
  scope: z.string().trim().min(1).optional(),
  /** Still signs outbound bodies when set, and is needed to verify inbound webhooks. */
  signatureSecret: required('signatureSecret').optional(),
});

/**
 * The Benevity connector's config: a union on `auth`. Without `auth`, API key mode is assumed,
 * so seed 002's three settings are a complete config.
 *
 * @example
 * BenevityConfigSchema.parse({ apiUrl: 'https://api.benevity.com', apiKey, signatureSecret });
 * BenevityConfigSchema.parse({ auth: 'oauth', apiUrl, tokenUrl, clientId, clientSecret });
 */
export const BenevityConfigSchema = z.discriminatedUnion('auth', [ApiKeyConfigSchema, OAuthConfigSchema], {
  error: 'auth must be "api_key" or "oauth"',
});

export type BenevityConfig = z.output<typeof BenevityConfigSchema>;
export type BenevityConfigInput = z.input<typeof BenevityConfigSchema>;
export type BenevityApiKeyConfig = z.output<typeof ApiKeyConfigSchema>;
export type BenevityOAuthConfig = z.output<typeof OAuthConfigSchema>;

/** Config fields that are secrets: encrypted at rest, masked, never logged. */
export const BENEVITY_SECRETS = ['apiKey', 'signatureSecret', 'clientSecret'] as const;

/** Which environment variable feeds which config field. Seed 002 names the first three. */
export const BENEVITY_ENV = {
  apiUrl: 'BENEVITY_API_URL',
  apiKey: 'BENEVITY_API_KEY',
  signatureSecret: 'BENEVITY_SIGNATURE_SECRET',
  auth: 'BENEVITY_AUTH',
  tokenUrl: 'BENEVITY_TOKEN_URL',
  clientId: 'BENEVITY_CLIENT_ID',
  clientSecret: 'BENEVITY_CLIENT_SECRET',
  authMethod: 'BENEVITY_TOKEN_AUTH_METHOD',
  scope: 'BENEVITY_SCOPE',
  requestsPerMinute: 'BENEVITY_REQUESTS_PER_MINUTE',
} as const;

/**
 * Builds a validated config from environment variables. The host calls it once, at its edge,
 * with `process.env`; the connector itself never reads the environment.
 *
 * Returns `undefined` when no `BENEVITY_*` variable is set (Benevity is not configured). The mode
 * is `BENEVITY_AUTH` when set, else `oauth` when `BENEVITY_CLIENT_ID` is set, else `api_key`.
 * Empty values count as unset. A bad value throws an error naming the variable, never its value.
 *
 * @example
 * const config = fromEnv(process.env);
 * if (config) connectors.push(bindConnector(benevity, config));
 */
export function fromEnv(env: Record<string, string | undefined>): BenevityConfig | undefined {
  const read = (name: string) => {
    const value = env[name]?.trim();
    return value === undefined || value === '' ? undefined : value;
  };
  if (!Object.values(BENEVITY_ENV).some((name) => read(name) !== undefined)) return undefined;

  const auth = read(BENEVITY_ENV.auth) ?? (read(BENEVITY_ENV.clientId) ? 'oauth' : 'api_key');
  const perMinute = read(BENEVITY_ENV.requestsPerMinute);
  const raw: Record<string, unknown> = {
    auth,
    apiUrl: read(BENEVITY_ENV.apiUrl),
    signatureSecret: read(BENEVITY_ENV.signatureSecret),
    requestsPerMinute: perMinute === undefined ? undefined : Number(perMinute),
  };
  if (auth === 'oauth') {
    raw.tokenUrl = read(BENEVITY_ENV.tokenUrl);
    raw.clientId = read(BENEVITY_ENV.clientId);
    raw.clientSecret = read(BENEVITY_ENV.clientSecret);
    raw.authMethod = read(BENEVITY_ENV.authMethod);
    raw.scope = read(BENEVITY_ENV.scope);
  } else {
    raw.apiKey = read(BENEVITY_ENV.apiKey);
  }
  const parsed = BenevityConfigSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((issue) => {
    const field = String(issue.path[0] ?? 'auth') as keyof typeof BENEVITY_ENV;
    return `${BENEVITY_ENV[field] ?? field}: ${issue.message}`;
  });
  throw new Error(`[impact-in] [${PROVIDER}] invalid environment: ${problems.join('; ')}`);
}
