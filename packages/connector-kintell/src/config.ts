import { z } from '@impact-in/core';
import { CampaignRuleSchema } from './campaigns.js';
import { isTimeZone } from './values.js';

const secret = z.string().min(16, 'must be at least 16 characters');

/**
 * Config of the Kintell connector. Kintell has no API: imports need no credentials, so every field
 * has a default and `{}` is a valid config. Secrets: `webhookSecret` and `previousWebhookSecret`.
 *
 * @example
 * KintellConfigSchema.parse({ webhookSecret: 'whsec-kintell-0123456789', timezone: 'Europe/Oslo' });
 */
export const KintellConfigSchema = z.object({
  /** Shared secret of the webhook signatures (`x-kintell-signature`). Without it webhooks are refused. */
  webhookSecret: secret.optional(),
  /** The secret before a rotation: signatures made with it are still accepted. */
  previousWebhookSecret: secret.optional(),
  /** Signed timestamps further than this from now (past or future) are refused. Default 300. */
  toleranceSeconds: z.number().int().min(1).max(3_600).default(300),
  /** Campaign rules, first match wins; an import may pass its own. */
  campaigns: z.array(CampaignRuleSchema).default([]),
  /** What happens to people the directory does not know. Default `unmatched`. */
  identityFallback: z.enum(['unmatched', 'email', 'reject']).default('unmatched'),
  /** IANA zone of export date-times without an offset. Default `UTC`. */
  timezone: z.string().refine(isTimeZone, 'must be an IANA time zone such as "Europe/Oslo"').default('UTC'),
});

/** A validated Kintell config. */
export type KintellConfig = z.output<typeof KintellConfigSchema>;
/** What you write: everything may be left out. */
export type KintellConfigInput = z.input<typeof KintellConfigSchema>;

/** Which environment variable fills which config field. */
export const KINTELL_ENV = Object.freeze({
  webhookSecret: 'KINTELL_WEBHOOK_SECRET',
  previousWebhookSecret: 'KINTELL_PREVIOUS_WEBHOOK_SECRET',
  timezone: 'KINTELL_TIMEZONE',
});

/**
 * Builds a Kintell config from environment variables (`KINTELL_WEBHOOK_SECRET`,
 * `KINTELL_PREVIOUS_WEBHOOK_SECRET`, `KINTELL_TIMEZONE`). Always returns a config, since imports
 * need no credentials; throws naming the variable when one is invalid, never echoing its value.
 * Takes the environment as an argument: the connector never reads `process.env` itself.
 *
 * @example
 * const binding = bindConnector(kintell, fromEnv(process.env));
 */
export function fromEnv(env: Record<string, string | undefined>): KintellConfig {
  const read = (name: string) => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };
  const parsed = KintellConfigSchema.safeParse({
    webhookSecret: read(KINTELL_ENV.webhookSecret),
    previousWebhookSecret: read(KINTELL_ENV.previousWebhookSecret),
    timezone: read(KINTELL_ENV.timezone),
  });
  if (parsed.success) return parsed.data;
  const names: Record<string, string> = KINTELL_ENV;
  const problems = parsed.error.issues.map((issue) => {
    const field = String(issue.path[0] ?? '');
    return `${names[field] ?? field}: ${issue.message}`;
  });
  throw new Error(`[impact-in] [kintell] invalid environment: ${problems.join('; ')}`);
}
