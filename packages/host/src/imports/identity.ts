import type { IdentityDirectory } from '@impact-in/core';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../postgres/schema.js';

/**
 * How emails are compared: trimmed, lower-cased, Unicode NFC. The same rule as the importers'
 * `normaliseEmail`, so a stored email matches what a CSV row names.
 */
export const normaliseEmail = (email: string): string => email.trim().toLowerCase().normalize('NFC');

/**
 * Brings the planner's statistics of the directory tables up to date when they are missing or
 * stale (a tenth of the rows changed since the last ANALYZE), before an import leans on them.
 * Without statistics, PostgreSQL resolves `(company_id, provider, external_id)` through the
 * `(company_id, provider, user_id)` index and scans the tenant's whole prefix for every lookup:
 * a directory loaded a moment ago made imports ten times slower. Autovacuum would analyze it,
 * but only a minute or more later. Best effort: a failure leaves the statistics as they were.
 */
export async function analyzeDirectoryIfStale(db: Kysely<Database>): Promise<void> {
  try {
    const { rows } = await sql<{ relname: string }>`
      select relname from pg_stat_user_tables
      where relid in ('platform_users'::regclass, 'identity_links'::regclass)
        and (coalesce(last_analyze, last_autoanalyze) is null
             or n_mod_since_analyze > greatest(500, n_live_tup / 10))`.execute(db);
    for (const { relname } of rows) {
      if (relname === 'platform_users') await sql`analyze platform_users`.execute(db);
      else if (relname === 'identity_links') await sql`analyze identity_links`.execute(db);
    }
  } catch {
    // Not the table owner, or no statistics views: lookups still work, only slower.
  }
}

/** Whether the tenant has loaded any platform users (`PUT /v1/identity/users`). */
export async function hasDirectory(db: Kysely<Database>, companyId: string): Promise<boolean> {
  const row = await db
    .selectFrom('platform_users')
    .select('user_id')
    .where('company_id', '=', companyId)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Rows per lookup statement; a directory call with more ids is split. */
const LOOKUP_CHUNK = 5_000;

/**
 * The tenant's platform users as an importer's identity directory: one query per call, whatever
 * the number of ids, and only the tenant's own rows. Each id is one index probe (the LATERAL …
 * OFFSET 0 keeps the planner from re-reading the id list once per stored row instead).
 *
 * @example
 * const identity = new PostgresIdentityDirectory(db, tenantId);
 * const ids = await identity.byEmails(['ana@acme.example']);
 */
export class PostgresIdentityDirectory {
  readonly #db: Kysely<Database>;
  readonly #companyId: string;

  constructor(db: Kysely<Database>, companyId: string) {
    this.#db = db;
    this.#companyId = companyId;
  }

  async byExternalIds(provider: string, externalIds: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (let start = 0; start < externalIds.length; start += LOOKUP_CHUNK) {
      const ids = externalIds.slice(start, start + LOOKUP_CHUNK);
      const { rows } = await sql<{ external_id: string; user_id: string }>`
        select external_id, user_id from identity_links
        where company_id = ${this.#companyId} and provider = ${provider} and external_id = any(${ids}::text[])`.execute(
        this.#db,
      );
      for (const row of rows) found.set(row.external_id, row.user_id);
    }
    return found;
  }

  async byEmails(emails: readonly string[]): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    for (let start = 0; start < emails.length; start += LOOKUP_CHUNK) {
      const list = emails.slice(start, start + LOOKUP_CHUNK);
      const { rows } = await sql<{ email: string; user_id: string }>`
        select email, user_id from platform_users
        where company_id = ${this.#companyId} and email = any(${list}::text[])`.execute(this.#db);
      for (const row of rows) found.set(row.email, row.user_id);
    }
    return found;
  }
}

/** A flat copy of a string that references no larger one. */
const ownString = (text: string): string => Buffer.from(text, 'utf8').toString('utf8');

/**
 * A directory that remembers, for one import, every answer it got, misses included: an export
 * names the same few thousand people on every batch, and asking PostgreSQL again for each batch
 * cost it about as much as storing the rows. Within one import the directory is a snapshot.
 * At most `maxEntries` answers are kept per kind; past that, new ones are asked for every time.
 */
export class CachedIdentityDirectory implements IdentityDirectory {
  readonly #inner: IdentityDirectory;
  readonly #maxEntries: number;
  /** Per provider: external id → user id, or null for "no such user". */
  readonly #byExternalId = new Map<string, Map<string, string | null>>();
  readonly #byEmail = new Map<string, string | null>();

  constructor(inner: IdentityDirectory, options: { maxEntries?: number } = {}) {
    this.#inner = inner;
    this.#maxEntries = options.maxEntries ?? 200_000;
  }

  byExternalIds(provider: string, externalIds: readonly string[]): Promise<Map<string, string>> {
    let cache = this.#byExternalId.get(provider);
    if (!cache) {
      cache = new Map();
      this.#byExternalId.set(provider, cache);
    }
    return this.#lookup(cache, externalIds, (missing) => this.#inner.byExternalIds(provider, missing));
  }

  byEmails(emails: readonly string[]): Promise<Map<string, string>> {
    return this.#lookup(this.#byEmail, emails, (missing) => this.#inner.byEmails(missing));
  }

  async #lookup(
    cache: Map<string, string | null>,
    keys: readonly string[],
    ask: (missing: string[]) => Promise<Map<string, string>>,
  ): Promise<Map<string, string>> {
    const found = new Map<string, string>();
    const missing: string[] = [];
    for (const key of keys) {
      const cached = cache.get(key);
      if (cached === undefined) missing.push(key);
      else if (cached !== null) found.set(key, cached);
    }
    if (missing.length === 0) return found;
    const answered = await ask(missing);
    for (const key of missing) {
      const userId = answered.get(key);
      if (userId !== undefined) found.set(key, userId);
      // A copy of the key: the importer's strings are slices of whole upload chunks, which a
      // cached slice would keep alive.
      if (cache.size < this.#maxEntries) cache.set(ownString(key), userId ?? null);
    }
    return found;
  }
}

export interface PlatformUserInput {
  userId: string;
  email?: string | null | undefined;
  /** Provider → that provider's id of the user, e.g. `{ kintell: 'K-1042' }`. */
  externalIds?: Record<string, string> | undefined;
}

export interface PlatformUser {
  userId: string;
  email: string | null;
  externalIds: Record<string, string>;
  createdAt: string;
  updatedAt: string;
}

/** Two users of one request, or a stored user and a new one, claim the same email or external id. */
export class IdentityConflictError extends Error {
  constructor(
    message: string,
    readonly details: Array<{ field: string; message: string }>,
  ) {
    super(message);
    this.name = 'IdentityConflictError';
  }
}

/**
 * Creates or updates a tenant's users in one transaction. A user's email is replaced by the one
 * given (`null` clears it; absent keeps it); each external id given replaces that provider's id
 * of the user, and other providers' ids are kept. An email or external id another user already
 * holds is a conflict: nothing is written.
 */
export async function upsertUsers(
  db: Kysely<Database>,
  companyId: string,
  users: readonly PlatformUserInput[],
): Promise<{ created: number; updated: number }> {
  const details: Array<{ field: string; message: string }> = [];
  const byUser = new Map<string, number>();
  const byEmail = new Map<string, number>();
  const byLink = new Map<string, number>();
  for (const [index, user] of users.entries()) {
    const earlier = byUser.get(user.userId);
    if (earlier !== undefined)
      details.push({ field: `users[${index}].userId`, message: `repeats users[${earlier}]` });
    byUser.set(user.userId, index);
    if (user.email) {
      const email = normaliseEmail(user.email);
      const other = byEmail.get(email);
      if (other !== undefined)
        details.push({ field: `users[${index}].email`, message: `users[${other}] has the same email` });
      byEmail.set(email, index);
    }
    for (const [provider, externalId] of Object.entries(user.externalIds ?? {})) {
      const key = `${provider}\u0000${externalId}`;
      const other = byLink.get(key);
      if (other !== undefined) {
        details.push({
          field: `users[${index}].externalIds.${provider}`,
          message: `users[${other}] has the same ${provider} id`,
        });
      }
      byLink.set(key, index);
    }
  }
  if (details.length > 0)
    throw new IdentityConflictError('users repeat a user id, email or external id', details);

  return db.transaction().execute(async (trx) => {
    const emails = [...byEmail.keys()];
    if (emails.length > 0) {
      const taken = await trx
        .selectFrom('platform_users')
        .select(['user_id', 'email'])
        .where('company_id', '=', companyId)
        .where('email', 'in', emails)
        .execute();
      for (const row of taken) {
        const index = byEmail.get(row.email!)!;
        if (users[index]!.userId !== row.user_id) {
          details.push({ field: `users[${index}].email`, message: 'belongs to another user' });
        }
      }
    }
    const links = [...byLink.keys()].map((key) => key.split('\u0000') as [string, string]);
    if (links.length > 0) {
      const taken = await trx
        .selectFrom('identity_links')
        .select(['provider', 'external_id', 'user_id'])
        .where('company_id', '=', companyId)
        .where((eb) =>
          eb.or(
            links.map(([provider, externalId]) =>
              eb.and([eb('provider', '=', provider), eb('external_id', '=', externalId)]),
            ),
          ),
        )
        .execute();
      for (const row of taken) {
        const index = byLink.get(`${row.provider}\u0000${row.external_id}`)!;
        if (users[index]!.userId !== row.user_id) {
          details.push({
            field: `users[${index}].externalIds.${row.provider}`,
            message: 'belongs to another user',
          });
        }
      }
    }
    if (details.length > 0) {
      throw new IdentityConflictError('an email or external id belongs to another user', details);
    }
    const now = new Date();
    // Users that name an email (or null) get it; users that leave it out keep the stored one.
    const upsert = async (group: readonly PlatformUserInput[], setEmail: boolean) => {
      if (group.length === 0) return [];
      return trx
        .insertInto('platform_users')
        .values(
          group.map((user) => ({
            company_id: companyId,
            user_id: user.userId,
            email: user.email ? normaliseEmail(user.email) : null,
            created_at: now,
            updated_at: now,
          })),
        )
        .onConflict((conflict) =>
          conflict
            .columns(['company_id', 'user_id'])
            .doUpdateSet((eb) =>
              setEmail
                ? { email: eb.ref('excluded.email'), updated_at: eb.ref('excluded.updated_at') }
                : { updated_at: eb.ref('excluded.updated_at') },
            ),
        )
        .returning(sql<boolean>`xmax = 0`.as('inserted'))
        .execute();
    };
    const written = [
      ...(await upsert(
        users.filter((user) => user.email !== undefined),
        true,
      )),
      ...(await upsert(
        users.filter((user) => user.email === undefined),
        false,
      )),
    ];
    const linked = users.flatMap((user) =>
      Object.entries(user.externalIds ?? {}).map(([provider, externalId]) => ({
        company_id: companyId,
        provider,
        external_id: externalId,
        user_id: user.userId,
        updated_at: now,
      })),
    );
    if (linked.length > 0) {
      // A user has one id per provider: the previous one goes.
      await trx
        .deleteFrom('identity_links')
        .where('company_id', '=', companyId)
        .where((eb) =>
          eb.or(
            linked.map((link) =>
              eb.and([
                eb('provider', '=', link.provider),
                eb('user_id', '=', link.user_id),
                eb('external_id', '<>', link.external_id),
              ]),
            ),
          ),
        )
        .execute();
      await trx
        .insertInto('identity_links')
        .values(linked)
        .onConflict((conflict) =>
          conflict
            .columns(['company_id', 'provider', 'external_id'])
            .doUpdateSet((eb) => ({ updated_at: eb.ref('excluded.updated_at') })),
        )
        .execute();
    }
    const created = written.filter((row) => row.inserted).length;
    return { created, updated: written.length - created };
  });
}

/** A page of the tenant's users, ordered by user id, with their external ids. */
export async function listUsers(
  db: Kysely<Database>,
  companyId: string,
  page: { page: number; limit: number },
): Promise<{ data: PlatformUser[]; total: number }> {
  const [rows, count] = await Promise.all([
    db
      .selectFrom('platform_users')
      .select(['user_id', 'email', 'created_at', 'updated_at'])
      .where('company_id', '=', companyId)
      .orderBy('user_id')
      .limit(page.limit)
      .offset((page.page - 1) * page.limit)
      .execute(),
    db
      .selectFrom('platform_users')
      .select((eb) => eb.fn.countAll<string>().as('total'))
      .where('company_id', '=', companyId)
      .executeTakeFirst(),
  ]);
  const links =
    rows.length === 0
      ? []
      : await db
          .selectFrom('identity_links')
          .select(['user_id', 'provider', 'external_id'])
          .where('company_id', '=', companyId)
          .where(
            'user_id',
            'in',
            rows.map((row) => row.user_id),
          )
          .execute();
  const external = new Map<string, Record<string, string>>();
  for (const link of links) {
    const ids = external.get(link.user_id) ?? {};
    ids[link.provider] = link.external_id;
    external.set(link.user_id, ids);
  }
  return {
    data: rows.map((row) => ({
      userId: row.user_id,
      email: row.email,
      externalIds: external.get(row.user_id) ?? {},
      createdAt: new Date(row.created_at).toISOString(),
      updatedAt: new Date(row.updated_at).toISOString(),
    })),
    total: Number(count?.total ?? 0),
  };
}
