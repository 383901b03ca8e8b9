import { randomUUID } from 'node:crypto';
import type { EventBus, InboundRecord, Logger } from '@impact-in/core';
import type { Kysely } from 'kysely';
import type { Database } from './postgres/schema.js';

/** The bus subject of an inbound record: `<provider>.<kind>`, e.g. `kintell.session.completed`. */
export function inboundSubject(provider: string, kind: string): string {
  const token = (value: string) =>
    value
      .replace(/[^A-Za-z0-9_.-]/g, '_')
      .replace(/\.{2,}/g, '.')
      .replace(/^\.|\.$/g, '');
  return `${token(provider)}.${token(kind)}`;
}

/**
 * Persists inbound records, skipping ones already seen (same tenant, provider, kind and source
 * id), and publishes the new ones. A duplicate is reported, not processed twice.
 */
export async function acceptInbound(
  deps: { db: Kysely<Database>; bus: EventBus; logger: Logger },
  provider: string,
  records: readonly InboundRecord[],
  companyId: string | undefined,
) {
  const results: Array<{ provider: string; kind: string; sourceId: string; duplicate: boolean }> = [];
  const now = new Date();
  for (const record of records) {
    const tenant = record.companyId ?? companyId ?? '';
    const inserted = await deps.db
      .insertInto('inbound_records')
      .values({
        id: randomUUID(),
        company_id: tenant,
        provider,
        kind: record.kind,
        source_id: record.sourceId,
        data: JSON.stringify(record.data),
        event: record.event ? JSON.stringify(record.event) : null,
        occurred_at: record.occurredAt ? new Date(record.occurredAt) : null,
        received_at: now,
      })
      .onConflict((conflict) => conflict.columns(['company_id', 'provider', 'kind', 'source_id']).doNothing())
      .returning('id')
      .executeTakeFirst();
    const duplicate = inserted === undefined;
    if (!duplicate) {
      // Published after the commit; the msg id makes a re-publish after a crash a no-op.
      await deps.bus.publish(
        inboundSubject(provider, record.kind),
        { ...record, companyId: tenant },
        { msgId: `${provider}:${tenant}:${record.kind}:${record.sourceId}` },
      );
    }
    results.push({ provider, kind: record.kind, sourceId: record.sourceId, duplicate });
  }
  const duplicates = results.filter((result) => result.duplicate).length;
  return { received: results.length - duplicates, duplicates, records: results };
}
