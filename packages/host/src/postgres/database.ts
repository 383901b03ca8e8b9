import { mkdirSync } from 'node:fs';
import { Kysely, PostgresDialect } from 'kysely';
import type { Pool } from 'pg';
import type { Database } from './schema.js';

// One registry per process, even when the ESM and CJS builds (or two entry points) are both loaded.
const REGISTRY = Symbol.for('@impact-in/host.pgPools');
const registryHolder = globalThis as { [REGISTRY]?: WeakMap<object, Pool> };
registryHolder[REGISTRY] ??= new WeakMap();
const pgPools: WeakMap<object, Pool> = registryHolder[REGISTRY];

/**
 * Tells the host which node-postgres pool a Kysely instance runs on, so that bulk writes (CSV
 * imports) can stream rows with `COPY` instead of statements. `openDatabase` does this itself;
 * call it when you build the Kysely instance you pass to `createHost`.
 *
 * @example
 * const pool = new pg.Pool({ connectionString });
 * const db = registerPgPool(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), pool);
 */
export function registerPgPool<T extends Kysely<Database>>(db: T, pool: Pool): T {
  pgPools.set(db, pool);
  return db;
}

/** The pool registered for `db` (not for a transaction of it), if any. */
export function pgPoolOf(db: Kysely<Database>): Pool | undefined {
  return pgPools.get(db);
}

export interface OpenDatabaseOptions {
  /** `postgres://…`. Without it, embedded PGlite is used. */
  url?: string | undefined;
  /** PGlite data directory (default `./.impact-in/pgdata`); `memory://` keeps it in memory. */
  dataDir?: string;
  /** Pool size for a real server. Default 10. */
  maxConnections?: number;
  /** Told when an idle pooled connection fails (e.g. the server restarted). */
  onIdleError?: (error: Error) => void;
}

/**
 * Opens the host database: a pg pool when `url` is set, embedded PGlite otherwise. The heavy
 * client is imported only for the mode in use.
 *
 * @example
 * const db = await openDatabase({ url: process.env.DATABASE_URL });
 * await migrateToLatest(db);
 */
export async function openDatabase(options: OpenDatabaseOptions = {}): Promise<Kysely<Database>> {
  if (options.url) {
    const { default: pg } = await import('pg');
    const pool = new pg.Pool({ connectionString: options.url, max: options.maxConnections ?? 10 });
    // An idle client losing its connection (a Postgres restart) must not crash the process:
    // the pool drops it and the next query opens a new one.
    pool.on('error', (error) => options.onIdleError?.(error));
    // Fail fast with a clear message rather than on the first query.
    try {
      const client = await pool.connect();
      client.release();
    } catch (error) {
      await pool.end();
      throw new Error(
        `[impact-in] [postgres] cannot connect to DATABASE_URL: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    return registerPgPool(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), pool);
  }
  const [{ PGlite }, { PGliteDialect }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('./pglite-dialect.js'),
  ]);
  const dataDir = options.dataDir ?? './.impact-in/pgdata';
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const pglite = new PGlite(dataDir);
  await pglite.waitReady;
  return new Kysely<Database>({ dialect: new PGliteDialect(pglite) });
}
