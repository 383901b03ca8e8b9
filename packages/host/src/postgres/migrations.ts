import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import { importMigrations } from './migrations-imports.js';

/** Forward-only migrations, in order. Never edit one that has shipped: add the next. */
const migrations: Record<string, Migration> = {
  '0001_deliveries_and_tokens': {
    // biome-ignore lint/suspicious/noExplicitAny: migrations run before the typed schema exists
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('impact_deliveries')
        .addColumn('id', 'uuid', (column) => column.primaryKey())
        .addColumn('company_id', 'text', (column) => column.notNull())
        .addColumn('provider', 'text', (column) => column.notNull())
        .addColumn('delivery_id', 'uuid', (column) => column.notNull())
        .addColumn('event_id', 'text', (column) => column.notNull())
        .addColumn('event', 'jsonb', (column) => column.notNull())
        .addColumn('payload', 'json')
        .addColumn('status', 'text', (column) =>
          column.notNull().check(sql`status in ('pending', 'retrying', 'success', 'failed')`),
        )
        .addColumn('attempt_count', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('replay_count', 'integer', (column) => column.notNull().defaultTo(0))
        .addColumn('last_error', 'text')
        .addColumn('provider_response', 'jsonb')
        .addColumn('next_attempt_at', 'timestamptz')
        .addColumn('delivered_at', 'timestamptz')
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
        .addColumn('lease_owner', 'text')
        .addColumn('lease_expires_at', 'timestamptz')
        .addUniqueConstraint('impact_deliveries_event_unique', ['company_id', 'provider', 'event_id'])
        .execute();
      // The claim query's index: only open deliveries, in due order.
      await sql`create index impact_deliveries_due on impact_deliveries (next_attempt_at)
        where status in ('pending', 'retrying')`.execute(db);
      await sql`create index impact_deliveries_company_created on impact_deliveries (company_id, created_at desc)`.execute(
        db,
      );
      await db.schema
        .createTable('impact_provider_tokens')
        .addColumn('key', 'text', (column) => column.primaryKey())
        .addColumn('token', 'text', (column) => column.notNull())
        .addColumn('expires_at', 'timestamptz', (column) => column.notNull())
        .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
        .execute();
    },
  },
  '0002_tenants_keys_inbound': {
    // biome-ignore lint/suspicious/noExplicitAny: migrations run before the typed schema exists
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('tenants')
        .addColumn('id', 'uuid', (column) => column.primaryKey())
        .addColumn('name', 'text', (column) => column.notNull())
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .execute();
      await db.schema
        .createTable('api_keys')
        .addColumn('id', 'uuid', (column) => column.primaryKey())
        .addColumn('tenant_id', 'uuid', (column) => column.notNull().references('tenants.id'))
        .addColumn('role', 'text', (column) =>
          column.notNull().check(sql`role in ('viewer', 'operator', 'admin')`),
        )
        .addColumn('prefix', 'text', (column) => column.notNull())
        .addColumn('hash', 'text', (column) => column.notNull().unique())
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .addColumn('revoked_at', 'timestamptz')
        .execute();
      await db.schema
        .createTable('inbound_records')
        .addColumn('id', 'uuid', (column) => column.primaryKey())
        .addColumn('company_id', 'text', (column) => column.notNull())
        .addColumn('provider', 'text', (column) => column.notNull())
        .addColumn('kind', 'text', (column) => column.notNull())
        .addColumn('source_id', 'text', (column) => column.notNull())
        .addColumn('data', 'jsonb', (column) => column.notNull())
        .addColumn('event', 'jsonb')
        .addColumn('occurred_at', 'timestamptz')
        .addColumn('received_at', 'timestamptz', (column) => column.notNull())
        .addUniqueConstraint('inbound_records_source_unique', ['company_id', 'provider', 'kind', 'source_id'])
        .execute();
    },
  },
  '0003_inbound_published_at': {
    // biome-ignore lint/suspicious/noExplicitAny: migrations run before the typed schema exists
    async up(db: Kysely<any>) {
      // Set once the record is on the bus: a record stored but not yet published (the bus was
      // down) is published again when the provider retries.
      await db.schema.alterTable('inbound_records').addColumn('published_at', 'timestamptz').execute();
    },
  },
  '0004_tenant_integrations_audit': {
    // biome-ignore lint/suspicious/noExplicitAny: migrations run before the typed schema exists
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('tenant_integrations')
        .addColumn('tenant_id', 'uuid', (column) => column.notNull().references('tenants.id'))
        .addColumn('provider', 'text', (column) => column.notNull())
        .addColumn('enabled', 'boolean', (column) => column.notNull().defaultTo(false))
        // The whole config as JSON, sealed with the secret box (AES-256-GCM, per-tenant key).
        .addColumn('config_sealed', 'text')
        .addColumn('last_health', 'jsonb')
        .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
        .addPrimaryKeyConstraint('tenant_integrations_pk', ['tenant_id', 'provider'])
        .execute();
      await db.schema.alterTable('api_keys').addColumn('name', 'text').execute();
      await db.schema
        .createTable('audit_log')
        .addColumn('id', 'bigserial', (column) => column.primaryKey())
        .addColumn('tenant_id', 'uuid', (column) => column.notNull())
        .addColumn('actor', 'text', (column) => column.notNull())
        .addColumn('actor_type', 'text', (column) => column.notNull())
        .addColumn('action', 'text', (column) => column.notNull())
        .addColumn('target', 'text')
        .addColumn('ip', 'text')
        .addColumn('before', 'jsonb')
        .addColumn('after', 'jsonb')
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .execute();
      await sql`create index audit_log_tenant_created on audit_log (tenant_id, created_at desc)`.execute(db);
      // Append-only: the database itself refuses to change or remove an entry.
      await sql`create function audit_log_append_only() returns trigger language plpgsql as $$
        begin raise exception 'audit_log is append-only'; end $$`.execute(db);
      await sql`create trigger audit_log_no_update before update or delete on audit_log
        for each row execute function audit_log_append_only()`.execute(db);
    },
  },
  '0008_claim_due_function': {
    // The claim as a function, for the planner settings it needs. Its subquery must walk the due
    // index in order and stop after `p_limit` rows; its update must find those rows by primary
    // key. Left to itself the planner did neither when the statistics were stale (a fresh
    // table, or a backlog that grew since the last ANALYZE, as in a provider outage): it read
    // every due row through a bitmap scan and sorted them all for each claim, and joined the
    // claimed ids against a scan of the whole table, so each claim cost time in proportion to
    // the backlog (4 ms at 5 000 due rows). `= any(array(…))` makes the update a primary-key
    // lookup; the SET clauses rule out the bitmap and sequential scans for this statement only.
    // biome-ignore lint/suspicious/noExplicitAny: migrations run before the typed schema exists
    async up(db: Kysely<any>) {
      await sql`create function impact_claim_due(
          p_owner text, p_now timestamptz, p_lease_until timestamptz, p_limit integer, p_providers text[])
        returns setof impact_deliveries
        language sql
        set enable_bitmapscan = off
        set enable_seqscan = off
        as $$
          update impact_deliveries set lease_owner = p_owner, lease_expires_at = p_lease_until
          where id = any(array(
            select id from impact_deliveries
            where status in ('pending', 'retrying') and next_attempt_at <= p_now
              and (lease_expires_at is null or lease_expires_at <= p_now)
              and (p_providers is null or provider = any(p_providers))
            order by next_attempt_at
            limit p_limit
            for update skip locked))
          returning *
        $$`.execute(db);
    },
  },
  '0009_claim_per_provider': {
    // The claim walks each served provider's due deliveries in its own index range, so due rows of
    // a provider no running host serves (a removed connector, a plugin missing on a replica) are
    // never read. With 0008's single due index, every claim stepped over all of them: its cost
    // grew with a backlog the host could do nothing about. Each provider's range is walked in due
    // order and stops at the limit; the rows found are merged in due order and cut to the limit.
    // Without a provider list (a store used directly), the providers with open deliveries are
    // listed from the same index, one probe each. Each provider's walk locks up to `p_limit`
    // rows (`SKIP LOCKED`, so concurrent claims step past each other in due order); only the
    // first `p_limit` of the merge are leased, and the other locks end with the statement.
    // biome-ignore lint/suspicious/noExplicitAny: migrations run before the typed schema exists
    async up(db: Kysely<any>) {
      await sql`create index impact_deliveries_due_by_provider on impact_deliveries (provider, next_attempt_at)
        where status in ('pending', 'retrying')`.execute(db);
      await sql`drop index impact_deliveries_due`.execute(db);
      await sql`create or replace function impact_claim_due(
          p_owner text, p_now timestamptz, p_lease_until timestamptz, p_limit integer, p_providers text[])
        returns setof impact_deliveries
        language sql
        set enable_bitmapscan = off
        set enable_seqscan = off
        as $$
          update impact_deliveries set lease_owner = p_owner, lease_expires_at = p_lease_until
          where id = any(array(
            select due.id
            from (select distinct provider from unnest(coalesce(p_providers, array(
                    with recursive open_provider(provider) as (
                      (select provider from impact_deliveries
                       where status in ('pending', 'retrying') order by provider limit 1)
                      union all
                      select (select d.provider from impact_deliveries d
                              where d.status in ('pending', 'retrying') and d.provider > o.provider
                              order by d.provider limit 1)
                      from open_provider o where o.provider is not null)
                    select provider from open_provider where provider is not null))) as provider) served
            cross join lateral (
              select id, next_attempt_at from impact_deliveries
              where provider = served.provider
                and status in ('pending', 'retrying') and next_attempt_at <= p_now
                and (lease_expires_at is null or lease_expires_at <= p_now)
              order by next_attempt_at
              limit p_limit
              for update skip locked) due
            order by due.next_attempt_at
            limit p_limit))
          returning *
        $$`.execute(db);
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => ({ ...migrations, ...importMigrations }) };

// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any database
function migrator(db: Kysely<any>): Migrator {
  return new Migrator({ db, provider, migrationTableName: 'impact_in_migrations' });
}

/** Applies every pending migration. Throws with the failing migration's name. */
// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any database
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const { error, results } = await migrator(db).migrateToLatest();
  const failed = results?.find((result) => result.status === 'Error');
  if (error || failed) {
    const name = failed?.migrationName ?? 'unknown';
    throw new Error(
      `[impact-in] [postgres] migration ${name} failed: ${error instanceof Error ? error.message : String(error)}`,
    );
  }
  return (results ?? []).map((result) => result.migrationName);
}

/** Applies the pending migrations up to and including `name` (upgrade tests start from an old schema). */
// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any database
export async function migrateUpTo(db: Kysely<any>, name: string): Promise<void> {
  const { error } = await migrator(db).migrateTo(name);
  if (error) throw error;
}

/** Names of migrations not yet applied (empty when the database is current). */
// biome-ignore lint/suspicious/noExplicitAny: the migrator works on any database
export async function pendingMigrations(db: Kysely<any>): Promise<string[]> {
  const all = await migrator(db).getMigrations();
  return all.filter((migration) => migration.executedAt === undefined).map((migration) => migration.name);
}
