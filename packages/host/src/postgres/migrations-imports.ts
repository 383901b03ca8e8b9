import type { Migration } from 'kysely';

/** Migrations of the import tables (merged into the host's migration list, ordered by name). */
export const importMigrations: Record<string, Migration> = {};
