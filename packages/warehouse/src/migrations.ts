import type { PostgresTarget } from '@musicflow/config';
import type pg from 'pg';
import { CATALOG_SQL, ddlObject, MIGRATION_SQL, MIGRATIONS, type Migration } from './sql.ts';
import { explainConnectionError } from './connection-errors.ts';
import { inTransaction } from './transaction.ts';
import { utcTimestamp } from './client-options.ts';

/** What the loser of two concurrent `CREATE ... IF NOT EXISTS` gets: unique violation in the catalog, duplicate table, schema, object. */
const LOST_CREATE_RACE = new Set(['23505', '42P07', '42P06', '42710']);

type Queryable = Pick<pg.Pool, 'query'>;
type DdlObject = NonNullable<ReturnType<typeof ddlObject>>;

/**
 * Brings the warehouse's schema to the newest migration (sql.ts, MIGRATIONS).
 * When nothing is pending it only reads the catalogue and
 * analytics.schema_migrations, so a role that may create nothing starts on a
 * schema an admin migrated. Otherwise each pending migration runs in one
 * transaction holding the lock on analytics.schema_migrations, so services
 * starting together apply it once. A CREATE of an object that exists is
 * skipped rather than sent: `IF NOT EXISTS` still checks the privilege.
 * A privilege the role lacks is a WarehouseConnectionError naming the grant.
 */
export async function applyMigrations(pool: pg.Pool, target: string | PostgresTarget, migrations: readonly Migration[] = MIGRATIONS): Promise<void> {
  const url = typeof target === 'string' ? target : target.url;
  const explain = (err: unknown, fix?: string) => explainConnectionError(target, err, fix);
  const recorded = await appliedVersions(pool).catch((err: { code?: string }) => {
    throw explain(err, err.code === '42501' ? MigrationFixes.read(url) : undefined);
  });
  const pending = migrations.filter((m) => !recorded?.has(m.version));
  if (!pending.length) return;
  const fixes = new MigrationFixes(url, pending);

  // The bookkeeping table first, outside the lock it is the subject of; services starting together race on it harmlessly.
  const existing = await existingObjects(pool, [MIGRATION_SQL.createSchema, MIGRATION_SQL.createTable]);
  for (const statement of [MIGRATION_SQL.createSchema, MIGRATION_SQL.createTable]) {
    const object = ddlObject(statement)!;
    if (existing.has(object.name)) continue;
    await pool.query(statement).catch((err: { code?: string }) => {
      if (err.code && LOST_CREATE_RACE.has(err.code)) return;
      throw explain(err, err.code === '42501' ? fixes.create(object) : undefined);
    });
  }

  let current: { migration: Migration; statement: string } | undefined;
  await inTransaction(pool, 'BEGIN', async (client) => {
    await client.query(MIGRATION_SQL.lock).catch((err: { code?: string }) => {
      throw explain(err, err.code === '42501' ? fixes.lock() : undefined);
    });
    const applied = (await appliedVersions(client)) ?? new Set();
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      const present = await existingObjects(client, migration.statements);
      for (const statement of migration.statements) {
        const object = ddlObject(statement);
        if (object && present.has(object.name)) continue;
        current = { migration, statement };
        await client.query(statement);
      }
      await client.query(MIGRATION_SQL.record, [migration.version, migration.name, utcTimestamp(new Date())]);
    }
  }).catch((err: { code?: string }) => {
    if (err.code !== '42501' || !current) throw explain(err);
    const object = ddlObject(current.statement);
    throw explain(err, object && object.kind !== 'column' ? fixes.create(object) : fixes.apply(current.migration));
  });
}

/** The versions recorded in analytics.schema_migrations; undefined when the table does not exist yet. */
async function appliedVersions(db: Queryable): Promise<Set<number> | undefined> {
  const [schema, table] = MIGRATION_SQL.table.split('.') as [string, string];
  const { rows } = await db.query<{ name: string }>(CATALOG_SQL.tables, [schema]);
  if (!rows.some((r) => r.name === table)) return undefined;
  return new Set((await db.query<{ version: number }>(MIGRATION_SQL.applied)).rows.map((r) => Number(r.version)));
}

/** The schemas, tables (`schema.table`) and columns (`schema.table.column`) among those `statements` create that exist already. */
async function existingObjects(db: Queryable, statements: readonly string[]): Promise<Set<string>> {
  const schemas = new Set(statements.flatMap((s) => ddlObject(s)?.name.split('.')[0] ?? []));
  const found = new Set<string>();
  const columns = statements.some((s) => ddlObject(s)?.kind === 'column');
  for (const schema of schemas) {
    if (!(await db.query(CATALOG_SQL.schema, [schema])).rowCount) continue;
    found.add(schema);
    for (const row of (await db.query<{ name: string }>(CATALOG_SQL.tables, [schema])).rows) found.add(`${schema}.${row.name}`);
    if (columns) for (const row of (await db.query<{ name: string }>(CATALOG_SQL.columns, [schema])).rows) found.add(`${schema}.${row.name}`);
  }
  return found;
}

/** The fix for a privilege the role lacks while migrations are pending: the grant to ask for, or who applies them. */
class MigrationFixes {
  private readonly user: string;
  private readonly database: string;
  private readonly pending: string;

  constructor(url: string, pending: readonly Migration[]) {
    this.user = decodeURIComponent(new URL(url).username) || 'postgres';
    this.database = decodeURIComponent(new URL(url).pathname.slice(1));
    this.pending = `Pending: ${pending.map((m) => `migration ${m.version} (${m.name})`).join(', ')}.`;
  }

  /** Before anything is known to be pending. */
  static read(url: string): string {
    const user = decodeURIComponent(new URL(url).username) || 'postgres';
    return `User "${user}" may not read ${MIGRATION_SQL.table}, which records the migrations applied: an admin grants it (GRANT SELECT ON ${MIGRATION_SQL.table} TO ${user}; docs/operating-warehouse.md).`;
  }

  /** Who else may apply them, or the grant that lets this role. */
  private either(grant: string): string {
    return `an admin applies the pending migrations (musicflow migrate with the admin's WAREHOUSE_URL; docs/operating-warehouse.md) or grants the privilege (${grant}). ${this.pending}`;
  }

  create(object: DdlObject): string {
    const { user, database } = this;
    return object.kind === 'schema'
      ? `User "${user}" may not create schema ${object.name}: an admin creates it (CREATE SCHEMA ${object.name} AUTHORIZATION ${user}) or grants CREATE ON DATABASE ${database} TO ${user} (docs/operating-warehouse.md). ${this.pending}`
      : `User "${user}" may not create table ${object.name}: ${this.either(`GRANT CREATE ON SCHEMA ${object.name.split('.')[0]} TO ${user}`)}`;
  }

  lock(): string {
    return `User "${this.user}" may not lock ${MIGRATION_SQL.table} to apply migrations: ${this.either(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${MIGRATION_SQL.table} TO ${this.user}`)}`;
  }

  apply(migration: Migration): string {
    return `User "${this.user}" may not apply migration ${migration.version} (${migration.name}): ${this.either('the one the error above names')}`;
  }
}
