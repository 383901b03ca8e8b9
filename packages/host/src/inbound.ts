import { randomUUID } from 'node:crypto';
import type { EventBus, InboundRecord, Logger } from '@impact-in/core';
import type { Insertable, Kysely } from 'kysely';
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
const keyOf = (row: { company_id: string; provider: string; kind: string; source_id: string }) =>
  `${row.company_id}\u0000${row.provider}\u0000${row.kind}\u0000${row.source_id}`;

/** Whether each row was new. Concurrent requests share one multi-row INSERT. */
const inserters = new WeakMap<Kysely<Database>, (row: Row) => Promise<boolean>>();
function inserterFor(db: Kysely<Database>) {
  let insert = inserters.get(db);
  if (!insert) {
    insert = createBatcher<Row, boolean>(async (rows) => {
      const inserted = await db
        .insertInto('inbound_records')
        .values(rows)
        .onConflict((conflict) =>
          conflict.columns(['company_id', 'provider', 'kind', 'source_id']).doNothing(),
        )
        .returning(['company_id', 'provider', 'kind', 'source_id'])
        .execute();
      const fresh = new Set(inserted.map(keyOf));
      // A record twice in one batch: only its first occurrence is new.
      return rows.map((row) => fresh.delete(keyOf(row)));
    });
    inserters.set(db, insert);
  }
  return insert;
}

/**
 * Persists inbound records, skipping ones already seen (same tenant, provider, kind and source
 * id), and publishes the new ones after the commit. A duplicate is reported, not processed twice.
 */
export async function acceptInbound(
  deps: { db: Kysely<Database>; bus: EventBus; logger: Logger },
  provider: string,
  records: readonly InboundRecord[],
  companyId: string | undefined,
) {
  const now = new Date();
  const insert = inserterFor(deps.db);
  const outcomes = await Promise.all(
    records.map(async (record) => {
      const tenant = record.companyId || companyId || '';
      const fresh = await insert({
        id: randomUUID(),
        company_id: tenant,
        provider,
        kind: record.kind,
        source_id: record.sourceId,
        data: JSON.stringify(record.data),
        event: record.event ? JSON.stringify(record.event) : null,
        occurred_at: record.occurredAt ? new Date(record.occurredAt) : null,
        received_at: now,
      });
      if (fresh) {
        // The msg id makes a re-publish after a crash between commit and publish a no-op.
        await deps.bus.publish(
          inboundSubject(provider, record.kind),
          { ...record, companyId: tenant },
          { msgId: `${provider}:${tenant}:${record.kind}:${record.sourceId}` },
        );
      }
      return { provider, kind: record.kind, sourceId: record.sourceId, duplicate: !fresh };
    }),
  );
  const duplicates = outcomes.filter((outcome) => outcome.duplicate).length;
  return { received: outcomes.length - duplicates, duplicates, records: outcomes };
}
