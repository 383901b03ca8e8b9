import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from './postgres/schema.js';

export type Role = 'viewer' | 'operator' | 'admin';

/** Who is calling: the key's tenant and role. */
export interface Principal {
  keyId: string;
  tenantId: string;
  role: Role;
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
): Promise<{ id: string; key: string }> {
  const key = `iik_${randomBytes(24).toString('base64url')}`;
  const id = randomUUID();
  await db
    .insertInto('api_keys')
    .values({
      id,
      tenant_id: tenantId,
      role,
      prefix: key.slice(0, 8),
      hash: hashKey(key),
      created_at: new Date(),
      revoked_at: null,
    })
    .execute();
  return { id, key };
}

/** Resolves API keys to principals, with a short cache so the hot path is not a query per request. */
export class ApiKeyAuthenticator {
  readonly #db: Kysely<Database>;
  readonly #cache = new Map<string, { principal: Principal | null; until: number }>();
  readonly #ttlMs: number;

  constructor(db: Kysely<Database>, options: { ttlMs?: number } = {}) {
    this.#db = db;
    this.#ttlMs = options.ttlMs ?? 10_000;
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
    const principal = row ? { keyId: row.id, tenantId: row.tenant_id, role: row.role } : null;
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(hash, { principal, until: now + this.#ttlMs });
    return principal ?? undefined;
  }
}
