import type { ColumnType } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type Json = ColumnType<unknown, string, string>;
type NullableJson = ColumnType<unknown, string | null, string | null>;

/** One CSV upload and what became of it. */
export interface ImportsTable {
  id: string;
  company_id: string;
  provider: string;
  /** The connector's mapping, e.g. `sessions` or `courses`. */
  mapping: string;
  status: 'running' | 'completed' | 'failed';
  dry_run: boolean;
  strict: boolean;
  /** Where the upload is kept (the tenant's BlobStore); null for dry runs and failed imports. */
  blob_key: string | null;
  /** The import report, once finished. */
  report: NullableJson;
  /** The API key that started it. */
  created_by: string | null;
  created_at: Timestamp;
  finished_at: Timestamp | null;
  /** Last sign of life of a running import (see `failInterruptedImports`). */
  heartbeat_at: Timestamp | null;
}

/**
 * Rows from CSV imports, one per (tenant, provider, kind, source id): importing the same row again
 * updates it in place, or leaves it alone when nothing changed.
 */
export interface ImportedRecordsTable {
  company_id: string;
  provider: string;
  kind: string;
  source_id: string;
  data: Json;
  /** The id of the record's impact event, if it has one (the event itself is rebuilt from the upload). */
  event_id: string | null;
  campaign_id: string | null;
  /** The import that last inserted or changed the row. */
  import_id: string;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** The tenant's platform users, as the identity API loaded them. */
export interface PlatformUsersTable {
  company_id: string;
  user_id: string;
  /** Normalised (trimmed, lower-case); unique per tenant. */
  email: string | null;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** A provider's id of a platform user (e.g. the Kintell member id). */
export interface IdentityLinksTable {
  company_id: string;
  provider: string;
  external_id: string;
  user_id: string;
  updated_at: Timestamp;
}

/** Tables of CSV imports; part of the host's `Database`. */
export interface ImportTables {
  imports: ImportsTable;
  imported_records: ImportedRecordsTable;
  platform_users: PlatformUsersTable;
  identity_links: IdentityLinksTable;
}
