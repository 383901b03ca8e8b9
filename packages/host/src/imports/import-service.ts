import { randomUUID } from 'node:crypto';
import {
  type AnyConnector,
  type BlobStore,
  type ConnectorContext,
  type Dispatcher,
  type HttpClient,
  type ImpactEvent,
  ImpactInError,
  type ImportItem,
  type Logger,
  systemClock,
  type TokenStore,
} from '@impact-in/core';
import { type Kysely, sql } from 'kysely';
import { HttpError } from '../http-error.js';
import type { Database } from '../postgres/schema.js';
import { analyzeDirectoryIfStale, CachedIdentityDirectory, PostgresIdentityDirectory } from './identity.js';
import { RecordWriter } from './record-writer.js';
import { StreamTee } from './tee.js';

/** The first this many row errors are listed; `errorCount` counts them all. */
export const MAX_REPORTED_ERRORS = 100;

/** How often a running import touches its row (`imports.heartbeat_at`). */
export const IMPORT_HEARTBEAT_MS = 5_000;
/** A running import silent for this long was interrupted: its host stopped or died. */
export const IMPORT_STALE_AFTER_MS = 60_000;

export interface ImportRowError {
  line: number;
  column?: string | undefined;
  message: string;
}

/** What an import did, row by row in sum. Stored with the import and answered by the API. */
export interface ImportReport {
  importId: string;
  provider: string;
  mapping: string;
  status: 'running' | 'completed' | 'failed';
  dryRun: boolean;
  strict: boolean;
  /** Data rows read (good and bad; blank lines are not rows). */
  rows: number;
  /** Rows stored for the first time (on a dry run: that would be). */
  imported: number;
  /** Rows stored before whose content changed, updated in place. */
  updated: number;
  /** Rows stored before and identical: left alone. */
  unchanged: number;
  /** Rows not stored because they are invalid. */
  skipped: number;
  /** Stored rows naming a person that matched no platform user. */
  unmatched: number;
  errorCount: number;
  /** The first {@link MAX_REPORTED_ERRORS} errors, in file order. */
  errors: ImportRowError[];
  errorsTruncated: boolean;
  /** Header columns the mapping does not know: ignored. */
  ignoredColumns: string[];
  /** Why the import failed as a whole (a file that is not a CSV export, a strict import's bad row). */
  failure: { code: string; message: string } | null;
  /** Deliveries of the imported impact events, when `deliver=true`. */
  deliveries: { targets: string[]; submitted: number; created: number; failed: number } | null;
  /** Bytes of the file read (the multipart form around it not counted). */
  bytes: number;
  filename: string | null;
  startedAt: string;
  finishedAt: string | null;
}

export interface ImportServiceDeps {
  db: Kysely<Database>;
  blobs: BlobStore;
  dispatcher: Dispatcher;
  http: HttpClient;
  tokens: TokenStore;
  logger: Logger;
  /** Providers the tenant delivers to. */
  deliveryTargets(companyId: string): Promise<string[]>;
  /** Heartbeat interval; default {@link IMPORT_HEARTBEAT_MS}. */
  heartbeatMs?: number;
}

/** One upload to import. */
export interface ImportRun {
  companyId: string;
  createdBy: string | undefined;
  connector: AnyConnector;
  /** The tenant's config of the connector. */
  config: unknown;
  mapping: string;
  dryRun: boolean;
  strict: boolean;
  deliver: boolean;
  /** The uploaded file's bytes. */
  source: AsyncIterable<Uint8Array>;
  /** Why reading the upload failed (a 413, a malformed form), if it did. */
  sourceError(): unknown;
  /** Stops reading the upload. */
  discardSource(): void;
  filename: string | undefined;
  signal: AbortSignal;
}

const ROLLBACK = Symbol('rollback');

/** Rows of impact events submitted to the dispatcher at once. */
const DELIVERY_BATCH = 500;

function connectorContext(
  deps: ImportServiceDeps,
  run: ImportRun,
  importId: string,
): ConnectorContext<unknown> {
  return {
    config: run.config,
    companyId: run.companyId,
    http: deps.http,
    tokens: deps.tokens,
    logger: deps.logger.child({ provider: run.connector.id, importId }),
    clock: systemClock,
    signal: run.signal,
  };
}

/**
 * Imports one upload: streams it through the connector's importer into `imported_records` in
 * batches, keeps the file in the tenant's blob store, records the import and its report, and
 * (with `deliver`) submits the imported impact events to the tenant's delivery targets.
 * Memory stays flat in the file size: every stage reads only as fast as the next one writes.
 *
 * Answers 200 with the report (row errors included) or 422 with it when the file as a whole was
 * refused; throws the upload's `HttpError` (413, malformed multipart) after recording the failure.
 */
/** The report of an import that has counted nothing yet. */
export function emptyReport(
  fields: Pick<
    ImportReport,
    'importId' | 'provider' | 'mapping' | 'status' | 'dryRun' | 'strict' | 'filename' | 'startedAt'
  >,
): ImportReport {
  return {
    ...fields,
    rows: 0,
    imported: 0,
    updated: 0,
    unchanged: 0,
    skipped: 0,
    unmatched: 0,
    errorCount: 0,
    errors: [],
    errorsTruncated: false,
    ignoredColumns: [],
    failure: null,
    deliveries: null,
    bytes: 0,
    finishedAt: null,
  };
}

export async function runImport(
  deps: ImportServiceDeps,
  run: ImportRun,
): Promise<{ status: 200 | 422; report: ImportReport }> {
  const importId = randomUUID();
  const startedAt = new Date();
  const blobKey = run.dryRun ? null : `${run.companyId}/imports/${importId}.csv`;
  await deps.db
    .insertInto('imports')
    .values({
      id: importId,
      company_id: run.companyId,
      provider: run.connector.id,
      mapping: run.mapping,
      status: 'running',
      dry_run: run.dryRun,
      strict: run.strict,
      blob_key: null,
      report: null,
      created_by: run.createdBy ?? null,
      created_at: startedAt,
      finished_at: null,
      // The database's clock, as the sweep's: hosts' clocks never meet.
      heartbeat_at: sql<Date>`now()`,
    })
    .execute();
  const heartbeat = setInterval(() => {
    deps.db
      .updateTable('imports')
      .set({ heartbeat_at: sql<Date>`now()` })
      .where('id', '=', importId)
      .where('status', '=', 'running')
      .execute()
      .catch((error: unknown) =>
        deps.logger.warn({ importId, err: String(error) }, 'an import heartbeat was not recorded'),
      );
  }, deps.heartbeatMs ?? IMPORT_HEARTBEAT_MS);
  heartbeat.unref();
  try {
    return await importAndRecord(deps, run, importId, startedAt, blobKey);
  } finally {
    clearInterval(heartbeat);
  }
}

async function importAndRecord(
  deps: ImportServiceDeps,
  run: ImportRun,
  importId: string,
  startedAt: Date,
  blobKey: string | null,
): Promise<{ status: 200 | 422; report: ImportReport }> {
  const report = emptyReport({
    importId,
    provider: run.connector.id,
    mapping: run.mapping,
    status: 'running',
    dryRun: run.dryRun,
    strict: run.strict,
    filename: run.filename ?? null,
    startedAt: startedAt.toISOString(),
  });
  const addError = (error: ImportRowError) => {
    report.errorCount++;
    if (report.errors.length < MAX_REPORTED_ERRORS) {
      report.errors.push(error.column === undefined ? { line: error.line, message: error.message } : error);
    } else report.errorsTruncated = true;
  };

  let bytes = 0;
  const counted = (async function* () {
    for await (const chunk of run.source) {
      bytes += chunk.length;
      yield chunk;
    }
  })();
  // The upload goes to the blob store as the importer reads it (a dry run keeps nothing).
  const tee = blobKey ? new StreamTee(counted) : undefined;
  const stored = blobKey && tee ? deps.blobs.put(blobKey, tee.copy, { contentType: 'text/csv' }) : undefined;
  stored?.catch(() => tee?.consumerFailed());
  const context = connectorContext(deps, run, importId);
  let thrown: unknown;
  await analyzeDirectoryIfStale(deps.db);

  const attempt = async (db: Kysely<Database>) => {
    const writer = new RecordWriter(db, {
      companyId: run.companyId,
      provider: run.connector.id,
      importId,
      dryRun: run.dryRun,
      // A strict import is one transaction: one connection, one statement at a time.
      concurrency: run.strict && !run.dryRun ? 1 : 2,
    });
    let headerRead = false;
    let lastBadLine = -1;
    const items = run.connector.import!(
      tee ? tee.reader : counted,
      {
        strict: run.strict,
        mapping: run.mapping,
        companyId: run.companyId,
        identity: new CachedIdentityDirectory(new PostgresIdentityDirectory(db, run.companyId)),
        signal: run.signal,
        onHeader: (header: { ignored?: string[] }) => {
          headerRead = true;
          report.ignoredColumns = [...(header.ignored ?? [])];
        },
      },
      context,
    ) as AsyncIterable<ImportItem>;
    const readItems = async (items: AsyncIterable<ImportItem>) => {
      for await (const item of items) {
        if (item.ok) {
          report.rows++;
          if (item.record.data.unmatched === true) report.unmatched++;
          await writer.add(item.record, item.line);
          continue;
        }
        addError({ line: item.line, column: item.column, message: item.message });
        if (!headerRead) {
          // Before the header there are no rows: the file itself is not an export we can read.
          report.failure = { code: 'invalid_file', message: item.message };
          break;
        }
        if (item.line !== lastBadLine) {
          report.rows++;
          report.skipped++;
          lastBadLine = item.line;
        }
        if (run.strict) {
          report.failure = {
            code: 'invalid_row',
            message: `line ${item.line}${item.column ? ` (${item.column})` : ''}: ${item.message}; a strict import stores nothing`,
          };
          break;
        }
      }
    };
    try {
      await readItems(items);
    } catch (error) {
      // What was written before the failure stays (unless a strict import rolls it back).
      const counts = await writer.abandon();
      report.imported = counts.imported;
      report.updated = counts.updated;
      report.unchanged = counts.unchanged;
      throw error;
    }
    const counts = await writer.finish();
    for (const rejected of writer.rejected) {
      addError(rejected);
      report.skipped++;
      if (run.strict && !report.failure) {
        report.failure = { code: 'invalid_row', message: `line ${rejected.line}: ${rejected.message}` };
      }
    }
    report.imported = counts.imported;
    report.updated = counts.updated;
    report.unchanged = counts.unchanged;
    if (report.failure) {
      if (run.strict) throw ROLLBACK;
      return;
    }
    if (tee && stored) {
      // The whole upload is kept, even past an unreadable row that ended the import early.
      await tee.finish(true);
      await stored;
    } else run.discardSource();
  };

  try {
    if (run.strict && !run.dryRun) await deps.db.transaction().execute(attempt);
    else await attempt(deps.db);
  } catch (error) {
    if (run.strict && !run.dryRun) {
      // The transaction rolled back: nothing of a strict import that failed is stored.
      report.imported = 0;
      report.updated = 0;
      report.unchanged = 0;
    }
    if (error !== ROLLBACK) thrown = run.sourceError() ?? error;
  }
  report.bytes = bytes;

  let httpError: HttpError | undefined;
  let internal = false;
  if (thrown !== undefined) {
    if (thrown instanceof HttpError) {
      httpError = thrown;
      report.failure = { code: thrown.code, message: thrown.message };
    } else if (run.signal.aborted || (thrown instanceof Error && thrown.name === 'AbortError')) {
      httpError = new HttpError(400, 'upload_aborted', 'the client went away before the upload was imported');
      report.failure = { code: httpError.code, message: httpError.message };
    } else if (thrown instanceof ImpactInError && thrown.kind === 'permanent') {
      report.failure = { code: 'invalid_import_options', message: thrown.message };
    } else {
      internal = true;
      report.failure = { code: 'internal_error', message: 'the import failed on the server' };
      deps.logger.error(
        {
          importId,
          err: thrown instanceof Error ? { message: thrown.message, stack: thrown.stack } : String(thrown),
        },
        'import failed',
      );
    }
  }
  const failed = report.failure !== null;
  if (failed) {
    tee?.abort(new Error('[impact-in] [imports] import failed: upload not kept'));
    run.discardSource();
    await stored?.catch(() => undefined);
    if (blobKey) await deps.blobs.delete(blobKey).catch(() => undefined);
  }
  report.status = failed ? 'failed' : 'completed';

  if (!failed && run.deliver && blobKey) {
    report.deliveries = await deliverFromBlob(deps, run, blobKey, importId);
  }
  report.finishedAt = new Date().toISOString();
  await deps.db
    .updateTable('imports')
    .set({
      status: report.status,
      blob_key: failed ? null : blobKey,
      report: JSON.stringify(report),
      finished_at: report.finishedAt,
      heartbeat_at: null,
    })
    .where('id', '=', importId)
    .execute();
  if (httpError) throw httpError;
  if (internal) throw thrown;
  return { status: failed ? 422 : 200, report };
}

/**
 * Submits the impact events of a stored import to each of the tenant's delivery targets, reading
 * the kept upload again (after the rows are committed, so a rolled-back import delivers nothing).
 * Event ids are deterministic: a re-import submits the same events, which the dispatcher answers
 * with the existing deliveries instead of sending twice.
 */
async function deliverFromBlob(
  deps: ImportServiceDeps,
  run: ImportRun,
  blobKey: string,
  importId: string,
): Promise<NonNullable<ImportReport['deliveries']>> {
  const targets = await deps.deliveryTargets(run.companyId);
  const result = { targets, submitted: 0, created: 0, failed: 0 };
  const source = targets.length > 0 ? await deps.blobs.get(blobKey) : undefined;
  if (!source) return result;
  const logger = deps.logger.child({ provider: run.connector.id, importId });
  let batch: ImpactEvent[] = [];
  const flush = async () => {
    const events = batch;
    batch = [];
    await Promise.all(
      events.flatMap((event) =>
        targets.map(async (provider) => {
          try {
            const { created } = await deps.dispatcher.submit({ companyId: run.companyId, provider, event });
            result.submitted++;
            if (created) result.created++;
          } catch (error) {
            result.failed++;
            logger.warn(
              { eventId: event.eventId, provider, err: String(error) },
              'an imported event was not submitted',
            );
          }
        }),
      ),
    );
  };
  const items = run.connector.import!(
    source,
    {
      strict: false,
      mapping: run.mapping,
      companyId: run.companyId,
      identity: new CachedIdentityDirectory(new PostgresIdentityDirectory(deps.db, run.companyId)),
    },
    connectorContext(deps, run, importId),
  ) as AsyncIterable<ImportItem>;
  for await (const item of items) {
    if (!item.ok || !item.record.event) continue;
    batch.push(item.record.event);
    if (batch.length >= DELIVERY_BATCH) await flush();
  }
  await flush();
  return result;
}

/**
 * Marks failed the imports left `running` by a host that stopped or died mid-import: those whose
 * heartbeat is older than `staleAfterMs` by the database's clock (heartbeats are written with the
 * database's `now()` too, so hosts' clocks never meet). Their report says so
 * (`failure.code: "interrupted"`); rows written before the interruption stay stored, and
 * importing the file again completes them (imports are idempotent per row). Safe on several
 * replicas: stale rows are locked `FOR UPDATE SKIP LOCKED` in one transaction, so each is marked
 * by one replica. Returns the imports marked.
 */
export async function failInterruptedImports(
  db: Kysely<Database>,
  options: { staleAfterMs?: number } = {},
): Promise<string[]> {
  const stale = sql<Date>`now() - make_interval(secs => ${(options.staleAfterMs ?? IMPORT_STALE_AFTER_MS) / 1000})`;
  return db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom('imports')
      .select(['id', 'provider', 'mapping', 'dry_run', 'strict', 'created_at'])
      .select(sql<Date>`now()`.as('now'))
      .where('status', '=', 'running')
      .where((eb) =>
        eb.or([
          eb('heartbeat_at', '<', stale),
          // Rows from before heartbeats existed.
          eb.and([eb('heartbeat_at', 'is', null), eb('created_at', '<', stale)]),
        ]),
      )
      .limit(1_000)
      .forUpdate()
      .skipLocked()
      .execute();
    for (const row of rows) {
      const report = emptyReport({
        importId: row.id,
        provider: row.provider,
        mapping: row.mapping,
        status: 'failed',
        dryRun: row.dry_run,
        strict: row.strict,
        filename: null,
        startedAt: new Date(row.created_at).toISOString(),
      });
      report.failure = {
        code: 'interrupted',
        message:
          'the host stopped before this import finished; rows written before that are kept, and importing the file again completes it',
      };
      report.finishedAt = new Date(row.now).toISOString();
      await trx
        .updateTable('imports')
        .set({ status: 'failed', report: JSON.stringify(report), finished_at: row.now, heartbeat_at: null })
        .where('id', '=', row.id)
        .execute();
    }
    return rows.map((row) => row.id);
  });
}
