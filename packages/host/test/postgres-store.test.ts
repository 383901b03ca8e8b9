import { randomUUID } from 'node:crypto';
import { describeDeliveryStore } from '@impact-in/testing';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import {
  type Database,
  migrateToLatest,
  openDatabase,
  PostgresDeliveryStore,
} from '../src/postgres/index.js';

const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A throwaway schema on the real server, so runs never collide and leave nothing behind. */
async function realPostgres() {
  const schema = `impact_test_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const pool = new pg.Pool({ connectionString: ADMIN_URL, max: 10, options: `-c search_path=${schema}` });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  await sql`create schema ${sql.id(schema)}`.execute(db);
  await migrateToLatest(db);
  return {
    store: new PostgresDeliveryStore(db),
    cleanup: async () => {
      await sql`drop schema ${sql.id(schema)} cascade`.execute(db);
      await db.destroy();
    },
  };
}

describeDeliveryStore('PostgresDeliveryStore on a real PostgreSQL server', realPostgres);

describeDeliveryStore('PostgresDeliveryStore on embedded PGlite', async () => {
  const db = await openDatabase({ dataDir: 'memory://' });
  await migrateToLatest(db);
  return { store: new PostgresDeliveryStore(db), cleanup: () => db.destroy() };
});
