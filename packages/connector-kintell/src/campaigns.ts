import { z } from '@impact-in/core';
import type { CampaignRule } from './types.js';
import { normaliseProgram, parseDateTime } from './values.js';

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

const windowEdge = z
  .string()
  .refine(
    (value) => typeof parseDateTime(value, 'UTC') === 'number',
    'must be an ISO date (2025-03-31) or date-time',
  )
  .optional();

/** A campaign rule as configured (see `CampaignRule`). */
export const CampaignRuleSchema = z
  .object({
    campaignId: z.string({ error: 'required: the campaign id' }).min(1).max(200),
    program: z
      .string()
      .refine((value) => normaliseProgram(value) !== undefined, 'must be language_connect or mentorship')
      .optional(),
    companyRef: z.string().min(1).max(200).optional(),
    from: windowEdge,
    to: windowEdge,
  })
  .refine(
    (rule) =>
      !rule.from ||
      !rule.to ||
      (parseDateTime(rule.from, 'UTC') as number) <= (parseDateTime(rule.to, 'UTC') as number),
    { message: 'from must not be after to', path: ['to'] },
  );

/** The instant a window edge stands for; a date alone ends at the last millisecond of that day in `zone`. */
function windowEdgeAt(value: string, zone: string, end: boolean): number {
  const trimmed = value.trim();
  if (!end || !DATE_ONLY.test(trimmed)) return parseDateTime(trimmed, zone) as number;
  const nextDay = new Date(Date.parse(`${trimmed}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  return (parseDateTime(nextDay, zone) as number) - 1;
}

/** A rule ready to match: everything parsed once per import. */
export interface CompiledCampaignRule {
  campaignId: string;
  index: number;
  program: string | undefined;
  companyRef: string | undefined;
  from: number;
  to: number;
}

/** Which rule a session matched. */
export interface CampaignMatch {
  campaignId: string;
  /** Index of the rule in the list. */
  rule: number;
}

/**
 * Parses campaign rules once. Window edges without an offset are read in `zone`; a date alone
 * (`2025-03-31`) covers that whole day, so `to: '2025-03-31'` includes sessions on the 31st.
 * Throws naming the rule when one is invalid.
 */
export function compileCampaignRules(rules: readonly CampaignRule[], zone: string): CompiledCampaignRule[] {
  return rules.map((rule, index) => {
    const parsed = CampaignRuleSchema.safeParse(rule);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(`campaigns[${index}].${issue.path.join('.') || '(rule)'}: ${issue.message}`);
    }
    const edge = (value: string | undefined, end: boolean) => {
      if (!value) return end ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
      return windowEdgeAt(value, zone, end);
    };
    return {
      campaignId: rule.campaignId,
      index,
      program: rule.program ? normaliseProgram(rule.program) : undefined,
      companyRef: rule.companyRef?.trim().toLowerCase(),
      from: edge(rule.from, false),
      to: edge(rule.to, true),
    };
  });
}

/**
 * The first rule whose program, company reference (case-insensitive) and window (on the
 * session's `scheduled_at`, inclusive) all match; a rule without a condition matches any value.
 *
 * @example
 * matchCampaign(compileCampaignRules([{ campaignId: 'c-1', program: 'MFU' }], 'UTC'),
 *   { program: 'mentorship', at: Date.UTC(2025, 2, 4) }) // { campaignId: 'c-1', rule: 0 }
 */
export function matchCampaign(
  rules: readonly CompiledCampaignRule[],
  session: { program?: string | undefined; companyRef?: string | undefined; at: number },
): CampaignMatch | null {
  let companyRef: string | undefined;
  for (const rule of rules) {
    if (rule.program !== undefined && rule.program !== session.program) continue;
    if (rule.companyRef !== undefined) {
      companyRef ??= session.companyRef?.toLowerCase();
      if (rule.companyRef !== companyRef) continue;
    }
    if (session.at < rule.from || session.at > rule.to) continue;
    return { campaignId: rule.campaignId, rule: rule.index };
  }
  return null;
}
