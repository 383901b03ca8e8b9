import type { PGlite } from '@electric-sql/pglite';
import {
  CompiledQuery,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type QueryResult,
} from 'kysely';

/** PGlite is one connection: callers take turns, and a transaction holds the turn until it ends. */
class Turns {
  #tail: Promise<void> = Promise.resolve();

  async take(): Promise<() => void> {
    let release!: () => void;
    const previous = this.#tail;
    this.#tail = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    return release;
  }
}

class PGliteConnection implements DatabaseConnection {
  constructor(readonly db: PGlite) {}

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const result = await this.db.query<R>(compiled.sql, [...compiled.parameters]);
    return {
      rows: result.rows,
      ...(result.affectedRows !== undefined ? { numAffectedRows: BigInt(result.affectedRows) } : {}),
    };
  }

  // biome-ignore lint/correctness/useYield: streaming is not supported by PGlite's query API
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('[impact-in] [pglite] streaming queries are not supported');
  }
}

class PGliteDriver implements Driver {
  readonly #turns = new Turns();
  readonly #releases = new WeakMap<DatabaseConnection, () => void>();
  readonly #connection: PGliteConnection;

  constructor(db: PGlite) {
    this.#connection = new PGliteConnection(db);
  }

  async init(): Promise<void> {
    await this.#connection.db.waitReady;
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const release = await this.#turns.take();
    // One connection object: a fresh wrapper per turn keeps the release bookkeeping per turn.
    const connection = new PGliteConnection(this.#connection.db);
    this.#releases.set(connection, release);
    return connection;
  }

  async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin'));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('rollback'));
  }

  async releaseConnection(connection: DatabaseConnection): Promise<void> {
    this.#releases.get(connection)?.();
  }

  async destroy(): Promise<void> {
    await this.#connection.db.close();
  }
}

/**
 * A Kysely dialect for embedded PGlite (Postgres compiled to WASM): the same SQL as the real
 * server, including `FOR UPDATE SKIP LOCKED`, with no server to run.
 *
 * @example
 * const db = new Kysely<Database>({ dialect: new PGliteDialect(new PGlite('./.impact-in/pgdata')) });
 */
export class PGliteDialect implements Dialect {
  constructor(readonly db: PGlite) {}

  createAdapter() {
    return new PostgresAdapter();
  }

  createDriver(): Driver {
    return new PGliteDriver(this.db);
  }

  createQueryCompiler() {
    return new PostgresQueryCompiler();
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's introspector takes any database
  createIntrospector(db: Kysely<any>) {
    return new PostgresIntrospector(db);
  }
}
