// Upgrading a database that already holds imports: migration 0006 keeps each record's event id
// when it drops the stored event.

import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { openDatabase } from '../src/postgres/database.js';
import { migrateToLatest, migrateUpTo, pendingMigrations } from '../src/postgres/migrations.js';

describe('migrations on a database with data', () => {
  it('0006 moves each imported record’s event id into event_id', async () => {
    const db = await openDatabase({ dataDir: 'memory://' });
    try {
      await migrateUpTo(db, '0005_imports');
      expect(await pendingMigrations(db)).toEqual([
        '0006_imported_records_event_id',
        '0007_imports_heartbeat',
        '0008_claim_due_function',
        '0009_claim_per_provider',
      ]);
      const importId = '11111111-1111-4111-8111-111111111111';
      await sql`insert into imported_records
          (company_id, provider, kind, source_id, data, event, campaign_id, import_id, created_at, updated_at)
        values
          ('c1', 'kintell', 'session', 's-1', '{"session_id":"s-1"}', '{"eventId":"kintell-session-s-1","userId":"u"}', null, ${importId}, now(), now()),
          ('c1', 'kintell', 'session', 's-2', '{"session_id":"s-2"}', null, 'camp', ${importId}, now(), now())`.execute(
        db,
      );
      await migrateToLatest(db);
      expect(await pendingMigrations(db)).toEqual([]);
      const { rows } = await sql<{
        source_id: string;
        event_id: string | null;
        data: unknown;
        campaign_id: string | null;
      }>`
        select source_id, event_id, data, campaign_id from imported_records order by source_id`.execute(db);
      expect(rows).toEqual([
        { source_id: 's-1', event_id: 'kintell-session-s-1', data: { session_id: 's-1' }, campaign_id: null },
        { source_id: 's-2', event_id: null, data: { session_id: 's-2' }, campaign_id: 'camp' },
      ]);
      const columns = await sql<{ column_name: string }>`
        select column_name from information_schema.columns where table_name = 'imported_records'`.execute(db);
      expect(columns.rows.map((column) => column.column_name)).not.toContain('event');
    } finally {
      await db.destroy();
    }
  });
});
