// RecordWriter on a real PostgreSQL server: new rows are streamed in with COPY, stored ones are
// upserted, and a COPY that collides with rows written meanwhile falls back to the upsert. Needs
// PostgreSQL (TEST_DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test): without it these
// tests fail, they do not skip.
import { randomUUID } from 'node:crypto';
import type { InboundRecord } from '@impact-in/core';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RecordWriter } from '../src/imports/record-writer.js';
import { type Database, migrateToLatest, registerPgPool } from '../src/postgres/index.js';
import { createTestDatabase } from './helpers.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let db: Kysely<Database>;
/** The same database without a registered pool: the writer can only upsert through it. */
let plain: Kysely<Database>;
let dropDatabase: () => Promise<void>;

beforeAll(async () => {
  const database = await createTestDatabase(ADMIN_URL);
  const pool = new pg.Pool({ connectionString: database.url, max: 4 });
  db = registerPgPool(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), pool);
  plain = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url, max: 2 }) }),
  });
  dropDatabase = database.drop;
  await migrateToLatest(db);
});
afterAll(async () => {
  await db?.destroy();
  await plain?.destroy();
  await dropDatabase?.();
});

const record = (sourceId: string, data: Record<string, unknown>, eventId?: string): InboundRecord => ({
  provider: 'kintell',
  kind: 'session',
  sourceId,
  data,
  ...(eventId
    ? {
        event: {
          eventId,
          userId: 'u-1',
          eventType: 'session_completed',
          timestamp: '2025-03-01T10:00:00Z',
          value: 1,
          unit: 'hours',
        },
      }
    : {}),
});

async function write(
  companyId: string,
  records: InboundRecord[],
  options: { on?: Kysely<Database>; batchSize?: number; beforeCopy?: () => Promise<void> } = {},
) {
  const writer = new RecordWriter(options.on ?? db, {
    companyId,
    provider: 'kintell',
    importId: randomUUID(),
    dryRun: false,
    ...(options.batchSize ? { batchSize: options.batchSize } : {}),
    ...(options.beforeCopy ? { beforeCopy: options.beforeCopy } : {}),
  });
  for (const [index, item] of records.entries()) await writer.add(item, index + 2);
  const counts = await writer.finish();
  return { counts, copied: writer.copied, rejected: writer.rejected };
}

const rowsOf = (companyId: string) =>
  sql<{ source_id: string; data: string; event_id: string | null; campaign_id: string | null }>`
    select source_id, data::text as data, event_id, campaign_id from imported_records
    where company_id = ${companyId} order by source_id`
    .execute(db)
    .then((result) => result.rows);

describe('RecordWriter on PostgreSQL', () => {
  it('streams new rows in with COPY, byte for byte, whatever their text holds', async () => {
    const tenant = randomUUID();
    // Every character COPY's text format treats specially, plus JSON escapes and non-ASCII.
    const awkward = 'tab\there, new\nline, cr\r, back\\slash \\N \\t, "quoted", ;|, Олена 🙂, \u2028';
    const records = [
      record(
        'plain-1',
        { session_id: 'plain-1', rating: 5, campaignId: 'camp-1' },
        'kintell-session-plain-1',
      ),
      record('back\\slash\ttab\nnewline', {
        session_id: 'odd',
        feedback: awkward,
        nested: { list: [1, null] },
      }),
      record('\\N', { session_id: '\\N', feedback: '\\N' }),
    ];
    const { counts, copied } = await write(tenant, records);
    expect(counts).toEqual({ imported: 3, updated: 0, unchanged: 0 });
    expect(copied).toBe(3);
    const stored = await rowsOf(tenant);
    const bySource = new Map(stored.map((row) => [row.source_id, row]));
    for (const item of records) {
      const row = bySource.get(item.sourceId);
      expect(row, item.sourceId).toBeDefined();
      // Stored exactly as serialised, and parses back to what was written.
      expect(row!.data).toBe(JSON.stringify(item.data));
      expect(JSON.parse(row!.data)).toEqual(item.data);
      expect(row!.event_id).toBe(item.event?.eventId ?? null);
    }
    expect(bySource.get('plain-1')!.campaign_id).toBe('camp-1');
    expect(bySource.get('\\N')!.campaign_id).toBeNull();
  });

  it('counts every row once while two batches are written at a time', async () => {
    const tenant = randomUUID();
    const records = Array.from({ length: 6_000 }, (_, index) => record(`k-${index}`, { n: index }));
    const { counts, copied } = await write(tenant, records, { batchSize: 250 });
    expect(counts).toEqual({ imported: 6_000, updated: 0, unchanged: 0 });
    expect(copied).toBe(6_000);
    expect(await rowsOf(tenant)).toHaveLength(6_000);
  });

  it('copies the new rows of a batch and upserts the stored ones, counting each', async () => {
    const tenant = randomUUID();
    const first = Array.from({ length: 30 }, (_, index) => record(`s-${index}`, { n: index }));
    expect((await write(tenant, first)).copied).toBe(30);
    // 10 stored rows unchanged, 10 changed, 10 new, in batches of 7 that mix them.
    const second = [
      ...first.slice(0, 10),
      ...first.slice(10, 20).map((item) => record(item.sourceId, { n: 'changed' })),
      ...Array.from({ length: 10 }, (_, index) => record(`t-${index}`, { n: index })),
    ].sort(() => Math.random() - 0.5);
    const { counts, copied } = await write(tenant, second, { batchSize: 7 });
    expect(counts).toEqual({ imported: 10, updated: 10, unchanged: 10 });
    // The first batch's COPY met stored rows and was upserted; later batches were checked first,
    // and their new rows copied.
    expect(copied).toBeGreaterThan(0);
    expect(copied).toBeLessThan(10);
    const stored = await rowsOf(tenant);
    expect(stored).toHaveLength(40);
    expect(stored.filter((row) => row.data === '{"n":"changed"}')).toHaveLength(10);
  });

  it('re-imports by checking first once a COPY met stored rows', async () => {
    const tenant = randomUUID();
    const records = Array.from({ length: 100 }, (_, index) => record(`r-${index}`, { n: index }));
    await write(tenant, records);
    const again = await write(
      tenant,
      [
        ...records.slice(0, 90),
        ...records.slice(90).map((item) => record(item.sourceId, { n: 'new' })),
        record('r-new', {}),
      ],
      { batchSize: 10 },
    );
    expect(again.counts).toEqual({ imported: 1, updated: 10, unchanged: 90 });
    expect(again.copied).toBe(1);
  });

  it('falls back to the upsert when the COPY collides with rows written meanwhile', async () => {
    const tenant = randomUUID();
    const records = Array.from({ length: 20 }, (_, index) => record(`c-${index}`, { n: index }));
    let interfered = false;
    const { counts, copied } = await write(tenant, records, {
      beforeCopy: async () => {
        if (interfered) return;
        interfered = true;
        // Another import stores two of the same rows after the check: one identical, one not.
        await write(tenant, [records[3]!, record('c-4', { n: 'other import' })], { on: plain });
      },
    });
    expect(interfered).toBe(true);
    expect(copied).toBe(0);
    // Everything is counted once: 18 new, c-4 brought back to this import's data, c-3 unchanged.
    expect(counts).toEqual({ imported: 18, updated: 1, unchanged: 1 });
    const stored = await rowsOf(tenant);
    expect(stored).toHaveLength(20);
    expect(stored.find((row) => row.source_id === 'c-4')!.data).toBe('{"n":4}');
  });

  it('parses a queued COPY batch back, byte for byte, when it must be upserted after all', async () => {
    const tenant = randomUUID();
    // A batch is queued as COPY text; this one collides, so its rows are read back from that
    // text and upserted. Every character COPY escapes must survive the round trip.
    const awkward = 'tab\there, new\nline, cr\r, back\\slash \\N \\t \\\\, "q", Олена 🙂, \u2028';
    const records = [
      record('a\tb\nc\rd\\e', { feedback: awkward, list: [1, null, 'x\\y'] }, 'kintell-session-a\tb'),
      record('\\N', { feedback: '\\N', campaignId: 'camp\t1' }),
      record('plain', { feedback: null, campaignId: 'camp-2' }, 'kintell-session-plain'),
      record('Олена 🙂', { feedback: awkward }),
    ];
    let interfered = false;
    const { counts, copied } = await write(tenant, records, {
      beforeCopy: async () => {
        if (interfered) return;
        interfered = true;
        await write(tenant, [record('plain', { feedback: 'stored before' })], { on: plain });
      },
    });
    expect(interfered).toBe(true);
    expect(copied).toBe(0);
    expect(counts).toEqual({ imported: 3, updated: 1, unchanged: 0 });
    const bySource = new Map((await rowsOf(tenant)).map((row) => [row.source_id, row]));
    expect([...bySource.keys()].sort()).toEqual(records.map((item) => item.sourceId).sort());
    for (const item of records) {
      const row = bySource.get(item.sourceId)!;
      expect(row.data).toBe(JSON.stringify(item.data));
      expect(row.event_id).toBe(item.event?.eventId ?? null);
      expect(row.campaign_id).toBe(typeof item.data.campaignId === 'string' ? item.data.campaignId : null);
    }
  });

  it('parses back batches of several COPY pieces, also those queued before a collision', async () => {
    const tenant = randomUUID();
    // Rows of ~30 000 characters: a batch of 7 spans several 64 KiB pieces. The first COPY
    // collides, so the batches queued meanwhile as COPY text are parsed back and checked.
    const big = (index: number) => `${'ø\\\t'.repeat(7_500)}#${index}`;
    const records = Array.from({ length: 40 }, (_, index) => record(`big-${index}`, { text: big(index) }));
    let interfered = false;
    const { counts } = await write(tenant, records, {
      batchSize: 7,
      beforeCopy: async () => {
        if (interfered) return;
        interfered = true;
        await write(tenant, [record('big-2', { text: 'stored before' })], { on: plain });
      },
    });
    expect(counts).toEqual({ imported: 39, updated: 1, unchanged: 0 });
    const stored = await rowsOf(tenant);
    expect(stored).toHaveLength(40);
    const bySource = new Map(stored.map((row) => [row.source_id, row.data]));
    for (const item of records) expect(bySource.get(item.sourceId)).toBe(JSON.stringify(item.data));
  });

  it('leaves out and reports rows Postgres cannot store, and copies the rest', async () => {
    const tenant = randomUUID();
    const { counts, copied, rejected } = await write(tenant, [
      record('ok-1', { a: 'fine 🙂' }),
      record('nul-in-data', { a: 'x\u0000y' }),
      record('nul\u0000id', { a: 'fine' }),
      record('lone-surrogate', { a: 'x\ud800y' }),
      record('ok-2', { a: 'fine' }),
    ]);
    expect(counts.imported).toBe(2);
    expect(copied).toBe(2);
    expect(rejected.map((item) => item.line)).toEqual([3, 4, 5]);
    expect(rejected[0]!.message).toMatch(/^data\.a: holds a NUL character/);
    expect(rejected[1]!.message).toMatch(/^sourceId: /);
    expect((await rowsOf(tenant)).map((row) => row.source_id)).toEqual(['ok-1', 'ok-2']);
  });

  it('keeps tenants apart: the same source ids of another tenant are new rows', async () => {
    const [one, two] = [randomUUID(), randomUUID()];
    const records = Array.from({ length: 5 }, (_, index) => record(`same-${index}`, { n: index }));
    expect((await write(one, records)).copied).toBe(5);
    const other = await write(two, records);
    expect(other.counts).toEqual({ imported: 5, updated: 0, unchanged: 0 });
    expect(other.copied).toBe(5);
  });
});
