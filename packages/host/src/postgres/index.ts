export { type OpenDatabaseOptions, openDatabase, pgPoolOf, registerPgPool } from './database.js';
export { PostgresDeliveryStore } from './delivery-store.js';
export { migrateToLatest, pendingMigrations } from './migrations.js';
export { PGliteDialect } from './pglite-dialect.js';
export type {
  ApiKeysTable,
  Database,
  DeliveriesTable,
  InboundRecordsTable,
  ProviderTokensTable,
  TenantsTable,
} from './schema.js';
export { PostgresTokenStore, type PostgresTokenStoreOptions } from './token-store.js';
