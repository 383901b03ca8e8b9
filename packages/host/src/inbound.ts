import { randomUUID } from 'node:crypto';
import {
  type EventBus,
  findUnstorableText,
  type InboundRecord,
  InboundValidationError,
  type Logger,
} from '@impact-in/core';
import { type Insertable, type Kysely, sql } from 'kysely';
import { createBatcher } from './postgres/batcher.js';
import type { Database, InboundRecordsTable } from './postgres/schema.js';

/** The bus subject of an inbound record: `<provider>.<kind>`, e.g. `kintell.session.completed`. */
export function inboundSubject(provider: string, kind: string): string {
  const token = (value: string) =>
    value
      .replace(/[^A-Za-z0-9_.-]/g, '_')
      .replace(/\.{2,}/g, '.')
      .replace(/^\.|\.$/g, '');
  return `${token(provider)}.${token(kind)}`;
}

type Row = Insertable<InboundRecordsTable>;
/** `new`: stored now. `unpublished`: stored before but never published. `duplicate`: done before. */
type Fate = 'new' | 'unpublished' | 'duplicate';

const keyOf = (row: { company_id: string; provider: string; kind: string; source_id: string }) =>
  `${row.company_id}\u0000${row.provider}\u0000${row.kind}\u0000${row.source_id}`;

interface InboundWriter {
  insert(row: Row): Promise<{ id: string; fate: Fate }>;
  markPublished(id: string): Promise<void>;
  /** Published marks written after their answer, not yet settled. */
  pending: Set<Promise<void>>;
}

/** Concurrent requests share one multi-row INSERT, and one UPDATE for the published marks. */
const writers = new WeakMap<Kysely<Database>, InboundWriter>();
function writerFor(db: Kysely<Database>): InboundWriter {
  let writer = writers.get(db);
  if (writer) return writer;
  const insert = createBatcher<Row, { id: string; fate: Fate }>(async (rows) => {
    const inserted = await db
      .insertInto('inbound_records')
      .values(rows)
      .onConflict((conflict) => conflict.columns(['company_id', 'provider', 'kind', 'source_id']).doNothing())
      .returning(['id', 'company_id', 'provider', 'kind', 'source_id'])
      .execute();
    const fresh = new Map(inserted.map((row) => [keyOf(row), row.id]));
    const seen = rows.filter((row) => !fresh.has(keyOf(row)));
    const earlier = new Map<string, { id: string; published: boolean }>();
    if (seen.length > 0) {
      const existing = await db
        .selectFrom('inbound_records')
        .select(['id', 'company_id', 'provider', 'kind', 'source_id', 'published_at'])
        .where((eb) =>
          eb.or(
            seen.map((row) =>
              eb.and([
                eb('company_id', '=', row.company_id),
                eb('provider', '=', row.provider),
                eb('kind', '=', row.kind),
                eb('source_id', '=', row.source_id),
              ]),
            ),
          ),
        )
        .execute();
      for (const row of existing)
        earlier.set(keyOf(row), { id: row.id, published: row.published_at !== null });
    }
    return rows.map((row) => {
      const key = keyOf(row);
      const id = fresh.get(key);
      // A record twice in one batch: only its first occurrence is new.
      if (id !== undefined) {
        fresh.delete(key);
        earlier.set(key, { id, published: true });
        return { id, fate: 'new' as const };
      }
      const before = earlier.get(key);
      if (!before) throw new Error('[impact-in] [inbound] record vanished');
      return { id: before.id, fate: before.published ? ('duplicate' as const) : ('unpublished' as const) };
    });
  });
  const markPublished = createBatcher<string, void>(async (ids) => {
    await db
      .updateTable('inbound_records')
      .set({ published_at: sql`now()` })
      .where('id', 'in', ids)
      .execute();
    return ids.map(() => undefined);
  });
  writer = { insert, markPublished, pending: new Set() };
  writers.set(db, writer);
  return writer;
}

/** Waits for the published marks still being written (the host calls it before closing the database). */
export async function settleInboundWrites(db: Kysely<Database>): Promise<void> {
  const writer = writers.get(db);
  while (writer && writer.pending.size > 0) await Promise.all([...writer.pending]);
}

const inRange = (value: string | undefined) => {
  if (!value) return null;
  const date = new Date(value);
  const year = date.getUTCFullYear();
  return Number.isNaN(year) || year < 1 || year > 9999 ? null : date;
};

/**
 * Persists inbound records, skipping ones already seen (same tenant, provider, kind and source
 * id), and publishes the new ones after the commit. A duplicate is reported, not processed twice;
 * a record stored earlier but never published (the bus was down) is published now.
 */
export async function acceptInbound(
  deps: { db: Kysely<Database>; bus: EventBus; logger: Logger },
  provider: string,
  records: readonly InboundRecord[],
  companyId: string | undefined,
) {
  const issues = records.flatMap((record, index) => {
    const path = findUnstorableText(record);
    return path
      ? [{ path: `records[${index}].${path}`, message: 'must not contain NUL characters or lone surrogates' }]
      : [];
  });
  if (issues.length > 0) throw new InboundValidationError(provider, issues);
  const now = new Date();
  const writer = writerFor(deps.db);
  const outcomes = await Promise.all(
    records.map(async (record) => {
      const tenant = record.companyId || companyId || '';
      const { id, fate } = await writer.insert({
        id: randomUUID(),
        company_id: tenant,
        provider,
        kind: record.kind,
        source_id: record.sourceId,
        data: JSON.stringify(record.data),
        event: record.event ? JSON.stringify(record.event) : null,
        occurred_at: inRange(record.occurredAt),
        received_at: now,
        published_at: null,
      });
      if (fate !== 'duplicate') {
        // The msg id makes a second publish of the same record a no-op on the bus.
        await deps.bus.publish(
          inboundSubject(provider, record.kind),
          { ...record, companyId: tenant },
          { msgId: `${provider}:${tenant}:${record.kind}:${record.sourceId}` },
        );
        // Bookkeeping, not part of the answer: the record is stored and on the bus. If the mark
        // is lost (a crash, a failed write), a redelivered webhook finds the record unpublished
        // and publishes it again: the bus drops that as a duplicate of its msg id within its
        // dedupe window (2 minutes on JetStream by default); after it, consumers see the record
        // twice, as at-least-once delivery allows. The host settles pending marks on close.
        const mark = writer.markPublished(id).catch((error: unknown) => {
          deps.logger.error(
            { provider, kind: record.kind, recordId: id, err: String(error) },
            'marking a record published failed; a redelivery will publish it again',
          );
        });
        writer.pending.add(mark);
        void mark.finally(() => writer.pending.delete(mark));
      }
      return { provider, kind: record.kind, sourceId: record.sourceId, duplicate: fate !== 'new' };
    }),
  );
  const duplicates = outcomes.filter((outcome) => outcome.duplicate).length;
  return { received: outcomes.length - duplicates, duplicates, records: outcomes };
}
