/** Tables of CSV imports; part of the host's `Database`. */
// biome-ignore lint/suspicious/noEmptyInterface: filled in by the import tables
export interface ImportTables {}
