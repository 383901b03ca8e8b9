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
import { dropTestDatabase } from './helpers.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A throwaway database on the real server, so runs never collide and leave nothing behind. */
async function realPostgres() {
  const name = `impact_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url.toString(), max: 10 }) }),
  });
  await migrateToLatest(db);
  return {
    store: new PostgresDeliveryStore(db),
    cleanup: async () => {
      await db.destroy();
      await dropTestDatabase(ADMIN_URL, name);
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
