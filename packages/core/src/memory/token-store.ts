import type { StoredToken, TokenStore } from '../interfaces.js';

/** Keeps OAuth tokens in a Map. Fine for one process; the host persists them in Postgres. */
export class MemoryTokenStore implements TokenStore {
  readonly #tokens = new Map<string, StoredToken>();

  async get(key: string): Promise<StoredToken | undefined> {
    const token = this.#tokens.get(key);
    return token ? { ...token } : undefined;
  }

  async set(key: string, token: StoredToken): Promise<void> {
    this.#tokens.set(key, { ...token });
  }

  async delete(key: string): Promise<void> {
    this.#tokens.delete(key);
  }
}
