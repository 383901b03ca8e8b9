import { once } from 'node:events';
import { findUnstorableText, type InboundRecord } from '@impact-in/core';
import { type Kysely, sql } from 'kysely';
import type { Pool, PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pgPoolOf } from '../postgres/database.js';
import type { Database } from '../postgres/schema.js';

/** How the rows of an import compare with what was stored before. */
export interface WriteCounts {
  /** New rows. */
  imported: number;
  /** Rows stored before whose data, event or campaign changed. */
  updated: number;
  /** Rows stored before, identical. */
  unchanged: number;
}

export interface RecordWriterOptions {
  companyId: string;
  provider: string;
  importId: string;
  /** Count what would happen without writing. */
  dryRun: boolean;
  /** Rows per statement. Default 1 000 (the importer resolves people in batches of that size too). */
  batchSize?: number;
  /**
   * Statements in flight at once. Default 2: PostgreSQL works on one batch per connection, so a
   * second keeps the server busy while the first commits. 1 inside a transaction (one connection).
   */
  concurrency?: number;
  /**
   * Called between a batch's existence check and its `COPY` (tests use it to write the same rows
   * from elsewhere, which the `COPY` then collides with).
   */
  beforeCopy?: () => Promise<void>;
}

interface Pending {
  line: number;
  kind: string;
  sourceId: string;
  /** `data` as JSON text, serialised once for whichever way the row is written. */
  data: string;
  eventId: string | null;
  campaignId: string | null;
}

/**
 * A batch bound for `COPY`, kept as the `COPY` text itself (encoded in pieces of about 64 KiB)
 * rather than as row objects: a row's strings are garbage as soon as its line is appended, so the
 * collector never copies a batch of them around. Rows are parsed back only if the batch must be
 * upserted after all.
 */
interface CopyBatch {
  chunks: Buffer[];
  /** The piece being filled. */
  text: string;
  /** The line of each row, in order. */
  lines: number[];
  /** `created_at` and `updated_at` of the batch's rows (when its first row was queued). */
  now: string;
}

/** Encodes the piece being filled (whole lines only: a piece never splits a row). */
function seal(batch: CopyBatch): void {
  if (batch.text === '') return;
  batch.chunks.push(Buffer.from(batch.text, 'utf8'));
  batch.text = '';
}

/** `\u0000` or a lone-surrogate escape in JSON text: what Postgres' json refuses. */
const UNSTORABLE_JSON = /\\u0000|\\ud[89a-f]/i;
/** A NUL or a lone surrogate in plain text (`isWellFormed`, ES2024: a valid pair is well formed). */
const suspectText = (value: string) =>
  value.includes('\u0000') || !(value as string & { isWellFormed(): boolean }).isWellFormed();

/** The batch as one JSON array for `json_to_recordset`, `data` spliced in as already serialised. */
const toJson = (batch: Pending[]) => {
  let json = '[';
  for (let index = 0; index < batch.length; index++) {
    const row = batch[index]!;
    if (index > 0) json += ',';
    json += `{"k":${JSON.stringify(row.kind)},"s":${JSON.stringify(row.sourceId)},"d":${row.data},"e":${
      row.eventId === null ? 'null' : JSON.stringify(row.eventId)
    },"c":${row.campaignId === null ? 'null' : JSON.stringify(row.campaignId)}}`;
  }
  return `${json}]`;
};

/** A value in `COPY … (format text)`: backslash, tab, newline and carriage return escaped. */
const copyText = (value: string | null) =>
  value === null ? '\\N' : /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, copyEscape) : value;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };
const copyEscape = (character: string) => COPY_ESCAPES[character]!;

/** The inverse of {@link copyText}. */
const fromCopyText = (value: string): string | null =>
  value === '\\N' ? null : value.includes('\\') ? value.replace(/\\(.)/g, copyUnescape) : value;
const COPY_UNESCAPES: Record<string, string> = { '\\': '\\', t: '\t', n: '\n', r: '\r' };
const copyUnescape = (_: string, character: string) => COPY_UNESCAPES[character] ?? character;

/** A `COPY` piece is encoded once it holds this many UTF-16 units. */
const COPY_PIECE = 65_536;

const UNIQUE_VIOLATION = '23505';

const campaignOf = (data: Record<string, unknown>) =>
  typeof data.campaignId === 'string' ? data.campaignId : null;

/**
 * Writes imported records in batches, idempotent on (tenant, provider, kind, source id).
 * Batches are written while the next fills, `concurrency` at a time (the backpressure).
 *
 * On a real PostgreSQL server (a pool registered with `registerPgPool`), one query finds which
 * rows of a batch are stored already; the new ones are streamed in with `COPY`, the rest are
 * upserted. While no stored row was met (a first import), a batch is queued as its `COPY` text,
 * encoded as it fills, and not checked at all; its rows are parsed back from that text only if it
 * has to be upserted after all. Otherwise (PGlite, a strict import's transaction, a dry run) the whole batch is
 * upserted. The upsert leaves a row stored with the same data alone (not even locked), updates a
 * changed one and reports how many were new and changed. Its batch travels as a single JSON
 * parameter expanded by `json_to_recordset`, which measured faster than multi-row VALUES or
 * unnest() arrays, and works the same on PGlite.
 */
export class RecordWriter {
  readonly counts: WriteCounts = { imported: 0, updated: 0, unchanged: 0 };
  /** Rows left out because Postgres cannot store their text (NUL characters, lone surrogates). */
  readonly rejected: Array<{ line: number; message: string }> = [];
  readonly #db: Kysely<Database>;
  readonly #options: Required<RecordWriterOptions>;
  /** The batch being filled: rows for the upsert (or a checked `COPY`), or `COPY` text. */
  #batch: Pending[] = [];
  #copyBatch: CopyBatch | undefined;
  /** Rows in the batch being filled (either form). */
  #queued = 0;
  #keys = new Set<string>();
  readonly #inFlight = new Set<{ done: Promise<void>; keys: Set<string> }>();
  #failure: { error: unknown } | undefined;

  readonly #pool: Pool | undefined;
  /** The first columns of every `COPY` line: the tenant and the provider. */
  readonly #copyPrefix: string;

  constructor(db: Kysely<Database>, options: RecordWriterOptions) {
    this.#db = db;
    this.#options = { batchSize: 1_000, concurrency: 2, beforeCopy: async () => undefined, ...options };
    // COPY needs a connection of its own: not inside a transaction, and not on PGlite.
    this.#pool = options.dryRun ? undefined : pgPoolOf(db);
    this.#copyPrefix = `${copyText(options.companyId)}\t${copyText(options.provider)}\t`;
  }

  /** Rows written with `COPY` (new rows, on a real PostgreSQL server). */
  copied = 0;
  /** Check which rows are stored before copying (after a `COPY` met stored rows). */
  #check = false;

  /**
   * Queues a record; resolves once it is accepted into a batch (after a write slot freed up when
   * this batch is full). Throws what a failed write threw. A record Postgres cannot store is left
   * out and reported in {@link rejected}.
   */
  async add(record: InboundRecord, line: number): Promise<void> {
    this.#throwIfFailed();
    const { kind, sourceId } = record;
    const key = `${kind}\u0000${sourceId}`;
    if (this.#keys.has(key) || this.#isInFlight(key)) {
      // The same row again: one statement cannot upsert a row twice, and two concurrent ones
      // could apply it out of order. Everything before it is written first.
      await this.#send();
      await this.#settle(0);
    }
    const row: Pending = {
      line,
      kind,
      sourceId,
      data: JSON.stringify(record.data),
      eventId: record.event?.eventId ?? null,
      campaignId: campaignOf(record.data),
    };
    if (!this.#storable(row)) return;
    // A batch keeps the form it started in: `COPY` text while no stored rows were met.
    if (this.#queued === 0 && this.#pool && !this.#check) {
      this.#copyBatch = { chunks: [], text: '', lines: [], now: new Date().toISOString() };
    }
    if (this.#copyBatch) this.#append(this.#copyBatch, row);
    else this.#batch.push(row);
    this.#keys.add(key);
    if (++this.#queued >= this.#options.batchSize) await this.#send();
  }

  /** Appends a row's `COPY` line (text format: tab-separated, `\\N` for null). */
  #append(batch: CopyBatch, row: Pending): void {
    const { data } = row;
    // JSON text has no raw tabs or newlines: only its backslashes need escaping.
    batch.text += `${this.#copyPrefix}${copyText(row.kind)}\t${copyText(row.sourceId)}\t${
      data.includes('\\') ? data.replaceAll('\\', '\\\\') : data
    }\t${copyText(row.eventId)}\t${copyText(row.campaignId)}\t${this.#options.importId}\t${batch.now}\t${batch.now}\n`;
    batch.lines.push(row.line);
    if (batch.text.length >= COPY_PIECE) seal(batch);
  }

  /** The rows of a `COPY` batch, parsed back from its text (to upsert them instead). */
  #rowsOf(batch: CopyBatch): Pending[] {
    const rows: Pending[] = [];
    let index = 0;
    for (const text of Buffer.concat(batch.chunks).toString('utf8').split('\n')) {
      if (text === '') continue;
      const fields = text.split('\t');
      rows.push({
        line: batch.lines[index++]!,
        kind: fromCopyText(fields[2]!)!,
        sourceId: fromCopyText(fields[3]!)!,
        data: fields[4]!.replaceAll('\\\\', '\\'),
        eventId: fromCopyText(fields[5]!),
        campaignId: fromCopyText(fields[6]!),
      });
    }
    return rows;
  }

  #isInFlight(key: string): boolean {
    for (const write of this.#inFlight) if (write.keys.has(key)) return true;
    return false;
  }

  /** Writes what is queued and waits for every write. */
  async finish(): Promise<WriteCounts> {
    await this.#send();
    await this.#settle(0);
    return this.counts;
  }

  /** Waits for the writes in flight, without sending what is queued (the import failed). */
  async abandon(): Promise<WriteCounts> {
    this.#batch = [];
    this.#copyBatch = undefined;
    this.#queued = 0;
    this.#keys = new Set();
    await this.#settle(0).catch(() => undefined);
    return this.counts;
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure.error;
  }

  /** Waits until at most `slots` writes are in flight. */
  async #settle(slots: number): Promise<void> {
    while (this.#inFlight.size > slots) {
      await Promise.race([...this.#inFlight].map((write) => write.done));
    }
    this.#throwIfFailed();
  }

  async #send(): Promise<void> {
    if (this.#queued === 0) return;
    // Backpressure: the next batch fills while at most `concurrency` are written.
    await this.#settle(this.#options.concurrency - 1);
    const rows = this.#batch;
    const copyBatch = this.#copyBatch;
    const keys = this.#keys;
    this.#batch = [];
    this.#copyBatch = undefined;
    this.#queued = 0;
    this.#keys = new Set();
    if (copyBatch) seal(copyBatch);
    const write = {
      keys,
      done: (copyBatch ? this.#writeCopyBatch(copyBatch) : this.#write(rows)).catch((error: unknown) => {
        this.#failure ??= { error };
      }),
    };
    this.#inFlight.add(write);
    void write.done.then(() => this.#inFlight.delete(write));
  }

  /**
   * Whether Postgres can store a row; if not (a NUL character, a lone surrogate), the row is
   * reported in {@link rejected}.
   */
  #storable(row: Pending): boolean {
    const suspect =
      // JSON.stringify writes `\u` only for control characters and lone surrogates.
      (row.data.includes('\\u') && UNSTORABLE_JSON.test(row.data)) ||
      suspectText(row.sourceId) ||
      suspectText(row.kind) ||
      (row.eventId !== null && suspectText(row.eventId)) ||
      (row.campaignId !== null && suspectText(row.campaignId));
    if (!suspect) return true;
    // Rare (the importer reports such cells itself): find the field and leave the row out.
    const path = findUnstorableText({
      data: JSON.parse(row.data),
      sourceId: row.sourceId,
      kind: row.kind,
      eventId: row.eventId,
      campaignId: row.campaignId,
    });
    if (path === undefined) return true;
    this.rejected.push({ line: row.line, message: `${path}: holds a NUL character or invalid text` });
    return false;
  }

  async #write(batch: Pending[]): Promise<void> {
    if (batch.length === 0) return;
    if (this.#pool) await this.#copyOrUpsert(this.#pool, batch);
    else await this.#upsert(batch);
  }

  /**
   * A batch queued as `COPY` text (nothing stored had been met when it began): copied as it is.
   * If the `COPY` meets a stored row, or one did since the batch began, its rows are parsed back
   * and written as {@link #copyOrUpsert} does.
   */
  async #writeCopyBatch(batch: CopyBatch): Promise<void> {
    const pool = this.#pool!;
    if (this.#check) {
      await this.#copyOrUpsert(pool, this.#rowsOf(batch));
      return;
    }
    const copied = await this.#withClient(pool, (client) =>
      this.#tryCopy(client, batch.chunks, batch.lines.length),
    );
    if (!copied) await this.#upsert(this.#rowsOf(batch));
  }

  /** Runs `work` on a pooled connection; one whose `COPY` broke off is not handed out again. */
  async #withClient<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let result: T;
    try {
      result = await work(client);
    } catch (error) {
      client.release(error instanceof Error ? error : true);
      throw error;
    }
    client.release();
    return result;
  }

  /**
   * Copies `rows` rows of `COPY` text and counts them; false when the `COPY` met a stored row (it
   * fails as a whole on the primary key: nothing of it stays), after which batches are checked.
   */
  async #tryCopy(client: PoolClient, chunks: readonly Buffer[], rows: number): Promise<boolean> {
    await this.#options.beforeCopy();
    try {
      // Not `imported += await …`: that reads the count before the wait, and batches overlap.
      const copied = await this.#copyChunks(client, chunks, rows);
      this.counts.imported += copied;
      this.copied += copied;
      return true;
    } catch (error) {
      if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      this.#check = true;
      return false;
    }
  }

  /**
   * On a real server: rows not stored yet go in with `COPY` (several times faster than any
   * INSERT: no per-row executor, bulk heap writes), the others are upserted.
   *
   * A batch is first copied optimistically: on a fresh import nothing is stored yet, and checking
   * costs as much as a third of the write. A `COPY` that meets a stored row fails as a whole on
   * the primary key (nothing of it stays), and that batch is upserted instead. From then on each
   * batch is checked first (its new rows copied, its stored rows upserted), until a check finds
   * none stored. Rows another import stores between a check and the `COPY` fail it the same way:
   * nothing is written twice or lost.
   */
  async #copyOrUpsert(pool: Pool, batch: Pending[]): Promise<void> {
    const upsert = await this.#withClient(pool, async (client) => {
      let fresh = batch;
      let stored: Pending[] = [];
      if (this.#check) {
        ({ fresh, stored } = await this.#split(client, batch));
        this.#check = stored.length > 0;
      }
      if (fresh.length > 0 && !(await this.#tryCopy(client, this.#encode(fresh), fresh.length))) return batch;
      return stored;
    });
    if (upsert.length > 0) await this.#upsert(upsert);
  }

  /** Which rows of a batch are stored already. */
  async #split(client: PoolClient, batch: Pending[]): Promise<{ fresh: Pending[]; stored: Pending[] }> {
    const { companyId, provider } = this.#options;
    const byKind = new Map<string, string[]>();
    for (const row of batch) {
      const ids = byKind.get(row.kind);
      if (ids) ids.push(row.sourceId);
      else byKind.set(row.kind, [row.sourceId]);
    }
    const found = new Set<string>();
    for (const [kind, ids] of byKind) {
      // One primary-key probe per id. Not `source_id = any($4)`: without statistics (a table
      // filling up) the planner scans every row of the tenant's (provider, kind) prefix for it.
      const result = await client.query<{ source_id: string }>(
        `select i.s as source_id from unnest($4::text[]) as i(s)
         where exists (
           select 1 from imported_records x
           where x.company_id = $1 and x.provider = $2 and x.kind = $3 and x.source_id = i.s
           offset 0)`,
        [companyId, provider, kind, ids],
      );
      for (const row of result.rows) found.add(`${kind}\u0000${row.source_id}`);
    }
    const fresh: Pending[] = [];
    const stored: Pending[] = [];
    for (const row of batch) (found.has(`${row.kind}\u0000${row.sourceId}`) ? stored : fresh).push(row);
    return { fresh, stored };
  }

  /** The `COPY` text of rows (the new rows of a checked batch). */
  #encode(rows: readonly Pending[]): Buffer[] {
    const batch: CopyBatch = { chunks: [], text: '', lines: [], now: new Date().toISOString() };
    for (const row of rows) this.#append(batch, row);
    seal(batch);
    return batch.chunks;
  }

  async #copyChunks(client: PoolClient, chunks: readonly Buffer[], rows: number): Promise<number> {
    const stream = client.query(
      copyFrom(
        'copy imported_records (company_id, provider, kind, source_id, data, event_id, campaign_id, import_id, created_at, updated_at) from stdin',
      ),
    );
    for (const chunk of chunks) {
      if (!stream.write(chunk)) await once(stream, 'drain'); // rejects if the COPY fails meanwhile
    }
    const finished = once(stream, 'finish');
    stream.end();
    await finished;
    return rows;
  }

  async #upsert(batch: Pending[]): Promise<void> {
    const json = toJson(batch);
    const { companyId, provider, importId } = this.#options;
    const now = new Date();
    const result = this.#options.dryRun
      ? await sql<{ imported: string | number; updated: string | number }>`
          select count(*) filter (where r.found is null) as imported,
                 count(*) filter (where r.found and not r.same) as updated
          from json_to_recordset(${json}::json) as i(k text, s text, d json, e text, c text)
          left join lateral (
            select true as found,
                   x.data::text = i.d::text and x.event_id is not distinct from i.e
                     and x.campaign_id is not distinct from i.c as same
            from imported_records x
            where x.company_id = ${companyId} and x.provider = ${provider} and x.kind = i.k and x.source_id = i.s
            offset 0) r on true`.execute(this.#db)
      : await sql<{ imported: string | number; updated: string | number }>`
          with written as (
            insert into imported_records as r
              (company_id, provider, kind, source_id, data, event_id, campaign_id, import_id, created_at, updated_at)
            select ${companyId}, ${provider}, i.k, i.s, i.d, i.e, i.c, ${importId}, ${now}, ${now}
            from json_to_recordset(${json}::json) as i(k text, s text, d json, e text, c text)
            -- Identical rows are left alone, not even locked. OFFSET 0 keeps this a per-row index
            -- probe: as an anti-join the planner may hash all of the tenant's rows per batch.
            where not exists (
              select 1 from imported_records x
              where x.company_id = ${companyId} and x.provider = ${provider} and x.kind = i.k and x.source_id = i.s
                and x.data::text = i.d::text and x.event_id is not distinct from i.e
                and x.campaign_id is not distinct from i.c
              offset 0)
            on conflict (company_id, provider, kind, source_id) do update
              set data = excluded.data, event_id = excluded.event_id, campaign_id = excluded.campaign_id,
                  import_id = excluded.import_id, updated_at = excluded.updated_at
              where r.data::text <> excluded.data::text or r.event_id is distinct from excluded.event_id
                or r.campaign_id is distinct from excluded.campaign_id
            returning (xmax = 0) as inserted)
          select count(*) filter (where inserted) as imported, count(*) filter (where not inserted) as updated
          from written`.execute(this.#db);
    const row = result.rows[0];
    const imported = Number(row?.imported ?? 0);
    const updated = Number(row?.updated ?? 0);
    this.counts.imported += imported;
    this.counts.updated += updated;
    this.counts.unchanged += batch.length - imported - updated;
  }
}
