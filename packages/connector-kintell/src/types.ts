/**
 * The public contract of the Kintell connector and its generic CSV import machinery.
 * The host (packages/host) codes against these names; keep them stable (extend, don't rename).
 */
import type { IdentityDirectory as CoreIdentityDirectory, ImportItem, InboundRecord } from '@impact-in/core';

/** Who a row names: a participant or a volunteer, as the export gives them. */
export interface PersonRef {
  /** `participant` (the learner / mentee) or `volunteer` (the employee giving the session). */
  role: 'participant' | 'volunteer';
  email?: string | undefined;
  name?: string | undefined;
  /** The provider's own id of the person, when the export has one. */
  externalId?: string | undefined;
}

/** Looks up platform users (core's `IdentityDirectory`; emails as `normaliseEmail` gives them). */
export type IdentityDirectory = CoreIdentityDirectory;

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
  /**
   * IANA time zone of `YYYY-MM-DD HH:MM[:SS]` values and of date-times without an offset.
   * Default: the connector config's `timezone` (itself `UTC` by default).
   */
  timezone?: string;
  /** Called once, before any row, with what the header row matched. */
  onHeader?: (header: CsvHeaderInfo) => void;
  /** Force the field delimiter instead of sniffing it from the header line. */
  delimiter?: CsvDelimiter;
  /**
   * The CSV tokenizer: `fast` (default, built in) or `csv-parse` (the csv-parse 6 stream
   * parser). Both yield the same items; `fast` splits rows about 20 times quicker, which makes
   * the whole import about 5 times quicker.
   */
  engine?: CsvEngineName;
  /** A row longer than this many characters (an unclosed quote, usually) stops the import. Default 1 048 576. */
  maxRowChars?: number;
  /** Stops the import between batches when aborted. */
  signal?: AbortSignal;
}

/** Field delimiters the importer sniffs from the header line. */
export type CsvDelimiter = ',' | ';' | '\t';

/** The CSV tokenizers `importCsv` can use. */
export type CsvEngineName = 'fast' | 'csv-parse';

/** What the header row matched, reported through `onHeader` before any row. */
export interface CsvHeaderInfo {
  /** The mapping's name, e.g. `sessions`. */
  mapping: string;
  /** Every recognised column: the header as written and the canonical field it fills. */
  columns: Array<{ header: string; field: string }>;
  /** Headers that match no field: ignored, and reported here. */
  ignored: string[];
  /** The delimiter in use (sniffed from the header line unless forced). */
  delimiter: CsvDelimiter;
  /** Optional fields that have no column in this file. */
  absent: string[];
}

/**
 * One imported row. `ImportItem` (core) with `ok: true` carries an `InboundRecord` whose `data`
 * holds the canonical row plus `participant`/`volunteer` (ResolvedPerson), `campaignId`
 * (string | null) and `unmatched` (boolean), and whose `event` is a `session_completed`
 * (or `course_completed`) ImpactEvent for completed rows whose volunteer/learner resolved.
 */
export type KintellImportItem = ImportItem;

export type { ImportItem, InboundRecord };
