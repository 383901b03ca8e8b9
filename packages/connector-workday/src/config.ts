import { z } from '@impact-in/core';

// Workday tenant names appear in URLs (`/ccx/service/acme_dpt1/…`): keep them to URL-safe characters.
const tenant = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9_.-]+$/, 'must be the Workday tenant name, e.g. "acme_dpt1"');

const shared = {
  /** Workday web-services host, e.g. `https://wd2-impl-services1.workday.com`. */
  apiUrl: z.url(),
  tenant,
  /**
   * Workday Activity_Type per impact-in eventType, for tenants whose CSR activity types are named
   * differently. Unmapped types are title-cased (`volunteer_hours` → `Volunteer Hours`).
   */
  activityTypes: z.record(z.string().min(1), z.string().min(1).max(200)).optional(),
  /** Credentials Workday's outbound notifications must carry in their WS-Security header. */
  webhookUsername: z.string().min(1).optional(),
  webhookPassword: z.string().min(8).optional(),
};

/** SOAP mode: an Integration System User authenticated with a WS-Security UsernameToken. */
export const WorkdaySoapConfigSchema = z.object({
  protocol: z.literal('soap'),
  ...shared,
  /** The Integration System User, usually `user@tenant`. */
  username: z.string().min(1).max(256),
  password: z.string().min(1).max(1024),
  /** Web-service version segment, e.g. `v45.1`: `…/CSR_Impact_Report/v45.1`. Omit for the default. */
  version: z
    .string()
    .regex(/^v\d+(\.\d+)?$/, 'must look like "v45.1"')
    .optional(),
});

/** REST mode: an OAuth 2.0 API client. */
export const WorkdayRestConfigSchema = z
  .object({
    protocol: z.literal('rest'),
    ...shared,
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    /**
     * `client_credentials` (seed 002), or `refresh_token` for Workday's "API Client for
     * Integrations", which is issued a non-expiring refresh token.
     */
    grantType: z.enum(['client_credentials', 'refresh_token']).default('client_credentials'),
    refreshToken: z.string().min(1).optional(),
    /** Default `{apiUrl}/ccx/oauth2/{tenant}/token`. */
    tokenUrl: z.url().optional(),
    /** Workday's token endpoint takes HTTP Basic client authentication. */
    authMethod: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    scope: z.string().min(1).optional(),
  })
  .superRefine((config, context) => {
    if (config.grantType === 'refresh_token' && !config.refreshToken) {
      context.addIssue({
        code: 'custom',
        path: ['refreshToken'],
        message: 'is required when grantType is "refresh_token"',
      });
    }
  });

/**
 * The Workday connector's config: `protocol` picks SOAP (WS-Security UsernameToken) or REST
 * (OAuth 2.0). Errors name the field.
 *
 * @example
 * WorkdayConfigSchema.parse({ protocol: 'soap', apiUrl: 'https://wd2-impl-services1.workday.com',
 *   tenant: 'acme', username: 'isu_impactin@acme', password: '…' });
 */
export const WorkdayConfigSchema = z.discriminatedUnion('protocol', [
  WorkdaySoapConfigSchema,
  WorkdayRestConfigSchema,
]);

export type WorkdayConfig = z.output<typeof WorkdayConfigSchema>;
export type WorkdaySoapConfig = z.output<typeof WorkdaySoapConfigSchema>;
export type WorkdayRestConfig = z.output<typeof WorkdayRestConfigSchema>;
export type WorkdayConfigInput = z.input<typeof WorkdayConfigSchema>;

/** Every field name of either protocol's config. */
export type WorkdayConfigField = WorkdayConfig extends infer T
  ? T extends unknown
    ? keyof T & string
    : never
  : never;

/** The config field each environment variable fills (seed 002's names, plus impact-in's own). */
export const WORKDAY_ENV: Readonly<Record<string, WorkdayConfigField>> = {
  WORKDAY_PROTOCOL: 'protocol',
  WORKDAY_API_URL: 'apiUrl',
  WORKDAY_TENANT_ID: 'tenant',
  WORKDAY_USERNAME: 'username',
  WORKDAY_PASSWORD: 'password',
  WORKDAY_CLIENT_ID: 'clientId',
  WORKDAY_CLIENT_SECRET: 'clientSecret',
  WORKDAY_TOKEN_URL: 'tokenUrl',
  // Not in seed 002: the options impact-in adds.
  WORKDAY_API_VERSION: 'version',
  WORKDAY_GRANT_TYPE: 'grantType',
  WORKDAY_REFRESH_TOKEN: 'refreshToken',
  WORKDAY_WEBHOOK_USERNAME: 'webhookUsername',
  WORKDAY_WEBHOOK_PASSWORD: 'webhookPassword',
};

/**
 * Builds and validates a config from environment variables (seed 002's `WORKDAY_*` names). It
 * reads only the object it is given, so the host decides where the environment comes from.
 * Returns `undefined` when no `WORKDAY_*` variable is set (Workday is simply not configured);
 * empty values count as unset. Errors name the variable, never its value.
 *
 * @example
 * const config = fromEnv(process.env);
 * if (config) connectors.push(bindConnector(workday, config));
 */
export function fromEnv(env: Record<string, string | undefined>): WorkdayConfig | undefined {
  const raw: Record<string, string> = {};
  for (const [variable, field] of Object.entries(WORKDAY_ENV)) {
    const value = env[variable]?.trim();
    if (value) raw[field] = value;
  }
  if (Object.keys(raw).length === 0) return undefined;
  if (raw.protocol) raw.protocol = raw.protocol.toLowerCase();
  const parsed = WorkdayConfigSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  const variableOf = (field: string) =>
    Object.entries(WORKDAY_ENV).find(([, name]) => name === field)?.[0] ?? field;
  const issues = parsed.error.issues
    .map((issue) => {
      const field = String(issue.path[0] ?? '');
      return `${field ? variableOf(field) : '(environment)'}: ${issue.message}`;
    })
    .join('; ');
  throw new Error(`[impact-in] [workday] invalid environment: ${issues}`);
}
