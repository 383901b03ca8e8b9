import { type Kysely, type Migration, sql } from 'kysely';

/** Migrations of the import tables (merged into the host's migration list, ordered by name). */
export const importMigrations: Record<string, Migration> = {
  '0005_imports': {
    // biome-ignore lint/suspicious/noExplicitAny: migrations run before the typed schema exists
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('imports')
        .addColumn('id', 'uuid', (column) => column.primaryKey())
        .addColumn('company_id', 'text', (column) => column.notNull())
        .addColumn('provider', 'text', (column) => column.notNull())
        .addColumn('mapping', 'text', (column) => column.notNull())
        .addColumn('status', 'text', (column) =>
          column.notNull().check(sql`status in ('running', 'completed', 'failed')`),
        )
        .addColumn('dry_run', 'boolean', (column) => column.notNull())
        .addColumn('strict', 'boolean', (column) => column.notNull())
        .addColumn('blob_key', 'text')
        .addColumn('report', 'jsonb')
        .addColumn('created_by', 'text')
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .addColumn('finished_at', 'timestamptz')
        .execute();
      await sql`create index imports_company_created on imports (company_id, created_at desc)`.execute(db);
      // The natural key is the primary key: a surrogate id would cost a second index on every
      // imported row, and nothing refers to these rows by id. `json`, not `jsonb`: checked but
      // stored as written, it loads about three times faster (docs/benchmarks.md, csv_import);
      // queries cast to jsonb where they need its operators.
      await db.schema
        .createTable('imported_records')
        .addColumn('company_id', 'text', (column) => column.notNull())
        .addColumn('provider', 'text', (column) => column.notNull())
        .addColumn('kind', 'text', (column) => column.notNull())
        .addColumn('source_id', 'text', (column) => column.notNull())
        .addColumn('data', 'json', (column) => column.notNull())
        .addColumn('event', 'json')
        .addColumn('campaign_id', 'text')
        .addColumn('import_id', 'uuid', (column) => column.notNull())
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
        .addPrimaryKeyConstraint('imported_records_pkey', ['company_id', 'provider', 'kind', 'source_id'])
        .execute();
      await db.schema
        .createTable('platform_users')
        .addColumn('company_id', 'text', (column) => column.notNull())
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('email', 'text')
        .addColumn('created_at', 'timestamptz', (column) => column.notNull())
        .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
        .addPrimaryKeyConstraint('platform_users_pkey', ['company_id', 'user_id'])
        .execute();
      await sql`create unique index platform_users_email on platform_users (company_id, email)
        where email is not null`.execute(db);
      await db.schema
        .createTable('identity_links')
        .addColumn('company_id', 'text', (column) => column.notNull())
        .addColumn('provider', 'text', (column) => column.notNull())
        .addColumn('external_id', 'text', (column) => column.notNull())
        .addColumn('user_id', 'text', (column) => column.notNull())
        .addColumn('updated_at', 'timestamptz', (column) => column.notNull())
        .addPrimaryKeyConstraint('identity_links_pkey', ['company_id', 'provider', 'external_id'])
        .addUniqueConstraint('identity_links_user', ['company_id', 'provider', 'user_id'])
        .addForeignKeyConstraint(
          'identity_links_user_fk',
          ['company_id', 'user_id'],
          'platform_users',
          ['company_id', 'user_id'],
          (constraint) => constraint.onDelete('cascade'),
        )
        .execute();
    },
  },
  '0006_imported_records_event_id': {
    // A record's impact event is a function of its data (the row, the people's user ids, the
    // campaign): storing the event too doubled what every imported row weighs. Records keep the
    // event's id, which links them to their deliveries; the event is rebuilt from the upload.
    // biome-ignore lint/suspicious/noExplicitAny: migrations run before the typed schema exists
    async up(db: Kysely<any>) {
      await sql`alter table imported_records add column event_id text`.execute(db);
      await sql`update imported_records set event_id = event ->> 'eventId' where event is not null`.execute(
        db,
      );
      await sql`alter table imported_records drop column event`.execute(db);
    },
  },
  '0007_imports_heartbeat': {
    // A running import touches its row every few seconds; one whose host died stops doing so,
    // and any replica then marks it failed (see failInterruptedImports).
    // biome-ignore lint/suspicious/noExplicitAny: migrations run before the typed schema exists
    async up(db: Kysely<any>) {
      await sql`alter table imports add column heartbeat_at timestamptz`.execute(db);
      await sql`create index imports_running on imports (heartbeat_at) where status = 'running'`.execute(db);
    },
  },
};
