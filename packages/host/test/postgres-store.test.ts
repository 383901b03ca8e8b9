import { randomUUID } from 'node:crypto';
import { describeDeliveryStore } from '@impact-in/testing';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  type Database,
  migrateToLatest,
  openDatabase,
  PostgresDeliveryStore,
} from '../src/postgres/index.js';
import { createTestDatabase } from './helpers.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A throwaway database on the real server, so runs never collide and leave nothing behind. */
async function realPostgres() {
  const database = await createTestDatabase(ADMIN_URL);
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url, max: 10 }) }),
  });
  await migrateToLatest(db);
  return {
    store: new PostgresDeliveryStore(db),
    cleanup: async () => {
      await db.destroy();
      await database.drop();
    },
  };
}

describeDeliveryStore('PostgresDeliveryStore on a real PostgreSQL server', realPostgres);

describeDeliveryStore('PostgresDeliveryStore on embedded PGlite', async () => {
  const db = await openDatabase({ dataDir: 'memory://' });
  await migrateToLatest(db);
  return { store: new PostgresDeliveryStore(db), cleanup: () => db.destroy() };
});

describe('PostgresDeliveryStore submit edge cases (PGlite)', () => {
  const event = {
    eventId: 'evt_edge',
    userId: 'u1',
    eventType: 'volunteer_hours',
    timestamp: '2025-11-14T10:00:00Z',
    value: 1,
    unit: 'hours',
  } as const;

  it('answers a given deliveryId as it reads back (lower case), and refuses an invalid nextAttemptAt', async () => {
    const db = await openDatabase({ dataDir: 'memory://' });
    await migrateToLatest(db);
    const store = new PostgresDeliveryStore(db);
    try {
      const upper = randomUUID().toUpperCase();
      const { delivery, created } = await store.submit({
        companyId: 'c1',
        provider: 'acme',
        event: { ...event },
        deliveryId: upper,
      });
      expect(created).toBe(true);
      expect(delivery.deliveryId).toBe(upper.toLowerCase());
      expect((await store.get(delivery.id))?.deliveryId).toBe(delivery.deliveryId);

      await expect(
        store.submit({
          companyId: 'c1',
          provider: 'acme',
          event: { ...event, eventId: 'evt_bad_date' },
          nextAttemptAt: new Date(Number.NaN),
        }),
      ).rejects.toThrow(/nextAttemptAt of event evt_bad_date is not a valid date/);
      expect((await store.list({ companyId: 'c1', page: 1, limit: 10 })).total).toBe(1);
    } finally {
      await db.destroy();
    }
  });
});

describe('PostgresDeliveryStore claims on a real PostgreSQL server', () => {
  it('reads about as many due rows as it claims, however large the backlog and however stale the statistics', async () => {
    const database = await createTestDatabase(ADMIN_URL);
    const pool = new pg.Pool({ connectionString: database.url, max: 2 });
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    try {
      await migrateToLatest(db);
      // A backlog of 5 000 due deliveries that the statistics know nothing of (never analyzed:
      // what a provider outage looks like between two ANALYZE runs), the oldest 64 in flight.
      await pool.query('alter table impact_deliveries set (autovacuum_enabled = false)');
      await pool.query(`
        insert into impact_deliveries
          (id, company_id, provider, delivery_id, event_id, event, status, next_attempt_at, created_at, updated_at)
        select gen_random_uuid(), 'c1', case when g % 2 = 0 then 'goodera' else 'benevity' end,
               gen_random_uuid(), 'evt_' || g, '{}', 'pending', now() - interval '1 hour' + g * interval '1 ms',
               now(), now()
        from generate_series(1, 5000) g`);
      await pool.query(`
        update impact_deliveries set lease_owner = 'other', lease_expires_at = now() + interval '1 minute'
        where event_id in (select 'evt_' || g from generate_series(1, 64) g)`);

      // Each claim on a connection of its own: a backend's transaction statistics can still hold
      // what it did before the transaction, until they are flushed.
      const claim = async (providers: string[] | null) => {
        const client = new pg.Client({ connectionString: database.url });
        await client.connect();
        await client.query('begin');
        const claimed = await client.query<{ event_id: string }>(
          `select event_id from impact_claim_due('me', now(), now() + interval '30 seconds', 10, $1)
           order by next_attempt_at`,
          [providers],
        );
        // Rows this transaction fetched from the table through an index, and read by scanning it.
        const read = await client.query<{ fetched: string; scanned: string }>(
          `select idx_tup_fetch as fetched, seq_tup_read as scanned from pg_stat_xact_user_tables
           where relname = 'impact_deliveries'`,
        );
        await client.query('rollback');
        await client.end();
        return { claimed: claimed.rows.map((row) => row.event_id), ...read.rows[0]! };
      };

      const all = await claim(null);
      expect(all.claimed).toEqual(Array.from({ length: 10 }, (_, index) => `evt_${65 + index}`));
      // The 64 leased rows are stepped over, then 10 are taken and updated: nowhere near the
      // 5 000 due (a bitmap scan fetched all of them, then sorted them).
      expect(Number(all.fetched)).toBeLessThan(200);
      expect(Number(all.scanned)).toBe(0);

      const goodera = await claim(['goodera']);
      expect(goodera.claimed).toEqual(Array.from({ length: 10 }, (_, index) => `evt_${66 + 2 * index}`));
      expect(Number(goodera.fetched)).toBeLessThan(200);
      expect(Number(goodera.scanned)).toBe(0);

      // 5 000 more due deliveries, all due before the others, for a provider no host serves (a
      // removed connector): a claim for the served providers does not read them.
      await pool.query(`
        insert into impact_deliveries
          (id, company_id, provider, delivery_id, event_id, event, status, next_attempt_at, created_at, updated_at)
        select gen_random_uuid(), 'c1', 'removed', gen_random_uuid(), 'old_' || g, '{}', 'pending',
               now() - interval '2 hours' + g * interval '1 ms', now(), now()
        from generate_series(1, 5000) g`);
      const served = await claim(['goodera', 'benevity']);
      expect(served.claimed).toEqual(Array.from({ length: 10 }, (_, index) => `evt_${65 + index}`));
      expect(Number(served.fetched)).toBeLessThan(200);
      expect(Number(served.scanned)).toBe(0);
      // Without a provider list every provider with open deliveries is served, oldest first.
      const any = await claim(null);
      expect(any.claimed).toEqual(Array.from({ length: 10 }, (_, index) => `old_${1 + index}`));
      expect(Number(any.fetched)).toBeLessThan(200);
      expect(Number(any.scanned)).toBe(0);
      // An unknown provider, and a provider listed twice, change nothing.
      const twice = await claim(['benevity', 'benevity', 'nobody']);
      expect(twice.claimed).toEqual(Array.from({ length: 10 }, (_, index) => `evt_${65 + 2 * index}`));
    } finally {
      await db.destroy();
      await database.drop();
    }
  });
});
