import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './postgres/schema.js';

export type Role = 'viewer' | 'operator' | 'admin';

/** Who is calling: the key's (or token's) tenant and role. */
export interface Principal {
  /** The API key id, or the OIDC subject. */
  keyId: string;
  tenantId: string;
  role: Role;
  via: 'api_key' | 'oidc';
}

const RANK: Record<Role, number> = { viewer: 0, operator: 1, admin: 2 };

/** Whether `role` may do what `needed` may. */
export function roleAllows(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

const hashKey = (key: string) => createHash('sha256').update(key, 'utf8').digest('hex');

/** Creates a tenant and returns its id. */
export async function createTenant(db: Kysely<Database>, name: string): Promise<string> {
  const id = randomUUID();
  await db.insertInto('tenants').values({ id, name, created_at: new Date() }).execute();
  return id;
}

export async function tenantExists(db: Kysely<Database>, id: string): Promise<boolean> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return false;
  return (await db.selectFrom('tenants').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}

/**
 * Creates an API key for a tenant. The plaintext (`iik_…`) is returned once; only its SHA-256
 * hash is stored.
 */
export async function createApiKey(
  db: Kysely<Database>,
  tenantId: string,
  role: Role,
  name?: string,
): Promise<{ id: string; key: string; prefix: string; createdAt: Date }> {
  const key = `iik_${randomBytes(24).toString('base64url')}`;
  const id = randomUUID();
  const createdAt = new Date();
  await db
    .insertInto('api_keys')
    .values({
      id,
      tenant_id: tenantId,
      role,
      prefix: key.slice(0, 8),
      hash: hashKey(key),
      name: name ?? null,
      created_at: createdAt,
      revoked_at: null,
    })
    .execute();
  return { id, key, prefix: key.slice(0, 8), createdAt };
}

/** A tenant's keys, without hashes or secrets. */
export async function listApiKeys(db: Kysely<Database>, tenantId: string) {
  const rows = await db
    .selectFrom('api_keys')
    .select(['id', 'role', 'prefix', 'name', 'created_at', 'revoked_at'])
    .where('tenant_id', '=', tenantId)
    .orderBy('created_at', 'asc')
    .execute();
  return rows.map((row) => ({
    id: row.id,
    role: row.role,
    prefix: row.prefix,
    name: row.name,
    createdAt: new Date(row.created_at).toISOString(),
    revokedAt: row.revoked_at ? new Date(row.revoked_at).toISOString() : null,
  }));
}

/** Revokes a key of the tenant; `undefined` when the tenant has no such key. */
export async function revokeApiKey(db: Kysely<Database>, tenantId: string, id: string) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return undefined;
  const row = await db
    .updateTable('api_keys')
    .set({ revoked_at: new Date() })
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .returning(['id', 'role', 'prefix', 'name'])
    .executeTakeFirst();
  if (row) return row;
  // Already revoked: answer with it again (DELETE is idempotent).
  return db
    .selectFrom('api_keys')
    .select(['id', 'role', 'prefix', 'name'])
    .where('tenant_id', '=', tenantId)
    .where('id', '=', id)
    .executeTakeFirst();
}

/** Resolves API keys to principals, with a short cache so the hot path is not a query per request. */
export class ApiKeyAuthenticator {
  readonly #db: Kysely<Database>;
  readonly #cache = new Map<string, { principal: Principal | null; until: number }>();
  readonly #ttlMs: number;

  constructor(db: Kysely<Database>, options: { ttlMs?: number } = {}) {
    this.#db = db;
    this.#ttlMs = options.ttlMs ?? 5_000;
  }

  async authenticate(key: string): Promise<Principal | undefined> {
    const hash = hashKey(key);
    const now = Date.now();
    const cached = this.#cache.get(hash);
    if (cached && cached.until > now) return cached.principal ?? undefined;
    const row = await this.#db
      .selectFrom('api_keys')
      .select(['id', 'tenant_id', 'role'])
      .where('hash', '=', hash)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    const principal: Principal | null = row
      ? { keyId: row.id, tenantId: row.tenant_id, role: row.role, via: 'api_key' }
      : null;
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(hash, { principal, until: now + this.#ttlMs });
    return principal ?? undefined;
  }

  /** Forgets cached keys (after a revocation, so it takes effect at once on this replica). */
  forget(): void {
    this.#cache.clear();
  }
}
