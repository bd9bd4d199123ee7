/**
 * Numbered migrations: a database made by the schema of a release before them
 * (commit 010793d) is upgraded in place, keeping its rows, to the same schema
 * a new database gets; a pending migration is applied once however many
 * services start together.
 */
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Warehouse } from '@musicflow/warehouse';
import { applyMigrations } from '../../packages/warehouse/src/migrations.ts';
import { KPI_TABLES, MIGRATIONS, type Migration } from '../../packages/warehouse/src/sql.ts';
import { createTestDatabase, dropTestDatabase, runStatements, schemaBeforeMigrations } from '../helpers/env.ts';

/** Every column of the analytics schema with its type, and every primary key, as the catalogue has them. */
async function describeSchema(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const columns = await client.query(
      `SELECT table_name, column_name, ordinal_position, data_type, character_maximum_length, is_nullable
       FROM information_schema.columns WHERE table_schema = 'analytics' ORDER BY table_name, ordinal_position`,
    );
    const keys = await client.query(
      `SELECT k.table_name, k.column_name, k.ordinal_position FROM information_schema.table_constraints c
       JOIN information_schema.key_column_usage k ON k.constraint_name = c.constraint_name AND k.table_schema = c.table_schema
       WHERE c.table_schema = 'analytics' AND c.constraint_type = 'PRIMARY KEY' ORDER BY k.table_name, k.ordinal_position`,
    );
    return { columns: columns.rows, keys: keys.rows };
  } finally {
    await client.end();
  }
}

describe('warehouse migrations', () => {
  const databases: string[] = [];
  const database = async () => {
    const url = await createTestDatabase();
    databases.push(url);
    return url;
  };
  afterAll(async () => {
    for (const url of databases) await dropTestDatabase(url);
  });

  it('upgrades a database made by the schema of 010793d to the schema a new database gets, keeping its rows', async () => {
    const legacy = await database();
    await runStatements(legacy, [
      ...(await schemaBeforeMigrations()),
      `INSERT INTO analytics.hourly_kpis (listen_date, listen_hour, unique_listeners, total_plays, unique_tracks, snapshot_seq, run_id, updated_at)
       VALUES ('2024-06-25', 7, 3, 5, 4, 1, 'old-run', '2024-06-26 02:00:00')`,
    ]);
    const fresh = await database();

    for (const url of [legacy, fresh]) await (await Warehouse.connect(url)).close();

    expect(await describeSchema(legacy)).toEqual(await describeSchema(fresh));
    const upgraded = await Warehouse.connect(legacy);
    try {
      const recorded = await upgraded.query<{ version: number; name: string }>('SELECT version, name FROM analytics.schema_migrations ORDER BY version');
      expect(recorded).toEqual(MIGRATIONS.map((m) => ({ version: m.version, name: m.name })));
      expect(await upgraded.kpis('hourly', '2024-06-25')).toMatchObject([{ listen_hour: 7, total_plays: 5, run_id: 'old-run' }]);
    } finally {
      await upgraded.close();
    }
  });

  it('makes the KPI tables sql.ts loads into: the columns KPI_TABLES names, then the load columns', async () => {
    const url = await database();
    await (await Warehouse.connect(url)).close();
    const { columns } = await describeSchema(url);
    for (const t of Object.values(KPI_TABLES)) {
      const names = columns.filter((c) => `analytics.${c.table_name}` === t.table).map((c) => c.column_name);
      expect(names).toEqual([...t.columns.map((c) => c.name), 'snapshot_seq', 'run_id', 'updated_at']);
    }
  });

  it('records a migration whose tables and columns exist already (made by hand) without sending its statements', async () => {
    const url = await database();
    // Portable SQL has no ADD COLUMN IF NOT EXISTS: sent again, an ALTER of a column that exists would fail (42701).
    await runStatements(
      url,
      MIGRATIONS.flatMap((m) => m.statements),
    );
    await (await Warehouse.connect(url)).close();
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query('SELECT version FROM analytics.schema_migrations ORDER BY version');
    await client.end();
    expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
  });

  it('applies a pending migration once when services start together', async () => {
    const url = await database();
    await (await Warehouse.connect(url)).close();
    // Adding a column twice fails (42701): only the lock keeps the second service from trying.
    const next: Migration[] = [
      ...MIGRATIONS,
      {
        version: Math.max(...MIGRATIONS.map((m) => m.version)) + 1,
        name: 'test column',
        statements: ['ALTER TABLE analytics.etl_runs ADD COLUMN note VARCHAR(16)'],
      },
    ];
    const pools = Array.from({ length: 4 }, () => new pg.Pool({ connectionString: url, max: 2 }));
    try {
      const starting = await Promise.allSettled(pools.map((pool) => applyMigrations(pool, url, next)));
      expect(starting.filter((s) => s.status === 'rejected').map((s) => String(s.reason))).toEqual([]);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
    const { columns } = await describeSchema(url);
    expect(columns.filter((c) => c.table_name === 'etl_runs' && c.column_name === 'note')).toHaveLength(1);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    const { rows } = await client.query('SELECT version FROM analytics.schema_migrations ORDER BY version');
    await client.end();
    expect(rows.map((r) => r.version)).toEqual(next.map((m) => m.version));
  });
});
