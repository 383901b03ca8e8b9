import { randomUUID } from 'node:crypto';
import { describeDeliveryStore } from '@impact-in/testing';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
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
