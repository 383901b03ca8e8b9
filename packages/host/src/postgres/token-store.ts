import type { StoredToken, TokenStore } from '@impact-in/core';
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface PostgresTokenStoreOptions {
  /**
   * Seals the serialised token before it is written and opens it after it is read, e.g. with
   * core's secret box. Without it tokens are stored as JSON text.
   */
  seal?: (plaintext: string, key: string) => string;
  open?: (sealed: string, key: string) => string;
}

/**
 * OAuth tokens in `impact_provider_tokens` (seed 002), keyed by `(tenant, provider, clientId)`,
 * shared by every replica.
 *
 * @example
 * const box = createSecretBox({ keys, currentKeyId });
 * const tokens = new PostgresTokenStore(db, {
 *   seal: (text, key) => box.encrypt(key.split(':')[0], text),
 *   open: (sealed, key) => box.decrypt(key.split(':')[0], sealed),
 * });
 */
export class PostgresTokenStore implements TokenStore {
  readonly #db: Kysely<Database>;
  readonly #options: PostgresTokenStoreOptions;

  constructor(db: Kysely<Database>, options: PostgresTokenStoreOptions = {}) {
    this.#db = db;
    this.#options = options;
  }

  async get(key: string): Promise<StoredToken | undefined> {
    const row = await this.#db
      .selectFrom('impact_provider_tokens')
      .select('token')
      .where('key', '=', key)
      .executeTakeFirst();
    if (!row) return undefined;
    const text = this.#options.open ? this.#options.open(row.token, key) : row.token;
    return JSON.parse(text) as StoredToken;
  }

  async set(key: string, token: StoredToken): Promise<void> {
    const text = JSON.stringify(token);
    const sealed = this.#options.seal ? this.#options.seal(text, key) : text;
    const now = new Date();
    await this.#db
      .insertInto('impact_provider_tokens')
      .values({ key, token: sealed, expires_at: new Date(token.expiresAt), updated_at: now })
      .onConflict((conflict) =>
        conflict
          .column('key')
          .doUpdateSet({ token: sealed, expires_at: new Date(token.expiresAt), updated_at: now }),
      )
      .execute();
  }

  async delete(key: string): Promise<void> {
    await this.#db.deleteFrom('impact_provider_tokens').where('key', '=', key).execute();
  }
}
