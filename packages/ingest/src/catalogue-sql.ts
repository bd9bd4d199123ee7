/**
 * The SQL the RDS catalogue source runs against the service's own PostgreSQL
 * database (not the warehouse: packages/warehouse/src/sql.ts holds that).
 * Values are read as text so table and CSV rows go through the same rules.
 */
const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const selectList = (columns: readonly string[]) => columns.map((c) => `${quoteIdent(c)}::text AS ${quoteIdent(c)}`).join(', ');

export const CATALOGUE_SQL = {
  /** In table order: schema drift pairs a renamed column by its position. */
  columns: `SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = ANY (current_schemas(false)) ORDER BY ordinal_position`,
  scan: (table: string, columns: readonly string[]) => `SELECT ${selectList(columns)} FROM ${quoteIdent(table)}`,
  /**
   * $1 = the keys, an array PostgreSQL types after the key column, so an index
   * on the key serves the lookup. In table order (ctid), so "the first row of
   * a track" means what it means in a full scan.
   */
  lookup: (table: string, columns: readonly string[], key: string) =>
    `SELECT ${selectList(columns)} FROM ${quoteIdent(table)} WHERE ${quoteIdent(key)} = ANY ($1) ORDER BY ctid`,
};
