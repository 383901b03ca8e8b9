/**
 * The public contract of the Kintell connector and its generic CSV import machinery.
 * The host (packages/host) codes against these names; keep them stable (extend, don't rename).
 */
import type { ImportItem, InboundRecord } from '@impact-in/core';

/** Who a row names: a participant or a volunteer, as the export gives them. */
export interface PersonRef {
  /** `participant` (the learner / mentee) or `volunteer` (the employee giving the session). */
  role: 'participant' | 'volunteer';
  email?: string | undefined;
  name?: string | undefined;
  /** The provider's own id of the person, when the export has one. */
  externalId?: string | undefined;
}

/**
 * Looks up platform users. Batched: the importer resolves a whole batch of rows in one call,
 * so a database-backed directory costs one query per batch, not one per row.
 */
export interface IdentityDirectory {
  /** External ids (of `provider`) to platform user ids. Missing keys = no mapping. */
  byExternalIds(provider: string, externalIds: readonly string[]): Promise<Map<string, string>>;
  /** Normalised emails (see `normaliseEmail`) to platform user ids. Missing keys = unknown. */
  byEmails(emails: readonly string[]): Promise<Map<string, string>>;
}

/**
 * What happens to a person no mapping and no email match found:
 * - `unmatched`: the row is reported as unmatched (it is still stored, with `userId: null`);
 * - `email`: the normalised email becomes the user id (for platforms keyed by email);
 * - `reject`: the row is reported as an error and not imported.
 */
export type IdentityFallback = 'unmatched' | 'email' | 'reject';

/** How a person was matched, carried on the record. */
export type MatchMethod = 'external_id' | 'email' | 'fallback_email' | 'unmatched';

export interface ResolvedPerson extends PersonRef {
  userId: string | null;
  matchedBy: MatchMethod;
}

/** Maps a session to a campaign or program. The first rule that matches wins. */
export interface CampaignRule {
  campaignId: string;
  /** Matches the row's `program` (e.g. `language_connect`, `mentorship`). */
  program?: string | undefined;
  /** Matches the row's company / campaign reference, case-insensitively. */
  companyRef?: string | undefined;
  /** Inclusive window on the session's `scheduled_at` (ISO dates or date-times). */
  from?: string | undefined;
  to?: string | undefined;
}

/** Options of one import run (what the host passes as `ImportOptions`). */
export interface KintellImportOptions {
  /** Stop at the first bad row. Default false: good rows proceed, bad ones are reported. */
  strict?: boolean;
  /** Which mapping to use: `sessions` (default) or `courses` (upskilling course completions). */
  mapping?: string;
  /** Platform users; without one every person is resolved by the fallback. */
  identity?: IdentityDirectory;
  /** Default `unmatched`. */
  identityFallback?: IdentityFallback;
  /** Campaign rules; the connector config's rules apply when not given. */
  campaigns?: readonly CampaignRule[];
  /** Rows resolved per directory call. Default 1 000. */
  batchSize?: number;
  /** The tenant; becomes the ImpactEvent's `companyId`. */
  companyId?: string;
}

/**
 * One imported row. `ImportItem` (core) with `ok: true` carries an `InboundRecord` whose `data`
 * holds the canonical row plus `participant`/`volunteer` (ResolvedPerson), `campaignId`
 * (string | null) and `unmatched` (boolean), and whose `event` is a `session_completed`
 * (or `course_completed`) ImpactEvent for completed rows whose volunteer/learner resolved.
 */
export type KintellImportItem = ImportItem;

export type { ImportItem, InboundRecord };
