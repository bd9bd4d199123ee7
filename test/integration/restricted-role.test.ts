/**
 * A managed warehouse (Redshift, RDS): the loader's role may connect only to
 * its own database, owns nothing and may create nothing; an admin made the
 * schema and tables. musicflow starts and loads with it, never connecting to
 * another database (the connections go through a proxy that reads each
 * start-up message). Missing database and missing privilege get messages with their fix.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Warehouse, WarehouseConnectionError } from '@musicflow/warehouse';
import { PG_ADMIN, runStatements, schemaBeforeMigrations, testConfig, uniqueName } from '../helpers/env.ts';
import { startPipeline } from '../helpers/pipeline.ts';
import { migrateWarehouse } from '@musicflow/cli';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { deleteKeys, makeBucket, type Bucket } from '../api/fixtures.ts';

const urlOf = (base: string, user: string, database: string) => {
  const url = new URL(base);
  url.username = user;
  url.password = '';
  url.pathname = `/${database}`;
  return url.toString();
};

const adminUrl = (database: string) => urlOf(PG_ADMIN, new URL(PG_ADMIN).username || 'postgres', database);

const asAdmin = (database: string, statements: string[]) => runStatements(adminUrl(database), statements);

describe('a warehouse role that reaches only its own database', () => {
  const role = uniqueName('mf_role');
  const grants = [
    `REVOKE ALL ON SCHEMA public FROM PUBLIC`,
    `GRANT USAGE ON SCHEMA analytics TO ${role}`,
    `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA analytics TO ${role}`,
  ];
  const database = uniqueName('mf_wh');
  const closed = uniqueName('mf_closed');
  let proxy: TcpProxy;
  let bucket: Bucket;

  beforeAll(async () => {
    const admin = new URL(PG_ADMIN);
    proxy = await startTcpProxy({ host: admin.hostname, port: Number(admin.port || 5432) });
    await asAdmin('postgres', [
      `CREATE ROLE ${role} LOGIN NOCREATEDB NOCREATEROLE`,
      `CREATE DATABASE ${database}`,
      `REVOKE ALL ON DATABASE ${database} FROM PUBLIC`,
      `GRANT CONNECT, TEMP ON DATABASE ${database} TO ${role}`,
      // A database the role may not connect to at all.
      `CREATE DATABASE ${closed}`,
      `REVOKE ALL ON DATABASE ${closed} FROM PUBLIC`,
    ]);
    // What an admin runs once (docs/operating-warehouse.md): the migrations (musicflow migrate), then the grants; the role owns nothing.
    await (await Warehouse.connect(adminUrl(database))).close();
    await asAdmin(database, grants);
    bucket = await makeBucket(1, 200);
  });
  afterAll(async () => {
    await proxy?.close();
    await bucket?.close();
    await asAdmin('postgres', [
      `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`,
      `DROP DATABASE IF EXISTS ${closed} WITH (FORCE)`,
      `DROP ROLE IF EXISTS ${role}`,
    ]);
  });

  it('starts the services and loads a run, connecting to no other database', async () => {
    const config = testConfig({ ...bucket.env, WAREHOUSE_URL: proxy.via(urlOf(PG_ADMIN, role, database)) });
    const pipeline = await startPipeline(config);
    try {
      const report = await pipeline.run();
      expect(report.status).toBe('succeeded');
      const db = await pipeline.ctx.warehouse();
      expect((await db.kpis('hourly', '2024-06-25')).length).toBeGreaterThan(0);
      expect((await db.getRun(report.runId))?.status).toBe('succeeded');
    } finally {
      await pipeline.close();
      await deleteKeys(config.QUEUE_PREFIX);
    }
    expect(proxy.databases.length).toBeGreaterThan(0);
    expect(new Set(proxy.databases)).toEqual(new Set([database]));
  });

  it('a missing database it may not create: says so, with the fix', async () => {
    const missing = uniqueName('mf_missing');
    const err = await Warehouse.connect(urlOf(PG_ADMIN, role, missing)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WarehouseConnectionError);
    expect((err as WarehouseConnectionError).problem).toBe('missing-database');
    expect((err as Error).message).toContain(`database "${missing}" does not exist`);
    expect((err as Error).message).toContain(`CREATE DATABASE ${missing} OWNER ${role}`);
  });

  it('a database it may not connect to: permission denied, with the grant to ask for', async () => {
    const err = await Warehouse.connect(urlOf(PG_ADMIN, role, closed)).catch((e: unknown) => e);
    expect((err as WarehouseConnectionError).problem).toBe('permission-denied');
    expect((err as Error).message).toContain(`permission denied for database "${closed}"`);
    expect((err as Error).message).toContain(`GRANT CONNECT, TEMP ON DATABASE ${closed} TO ${role}`);
  });

  it('an empty database it may not create tables in: names the schema and how to create it', async () => {
    const empty = uniqueName('mf_empty');
    await asAdmin('postgres', [`CREATE DATABASE ${empty}`, `GRANT CONNECT ON DATABASE ${empty} TO ${role}`, `REVOKE CREATE ON DATABASE ${empty} FROM PUBLIC`]);
    try {
      const err = await Warehouse.connect(urlOf(PG_ADMIN, role, empty)).catch((e: unknown) => e);
      expect((err as WarehouseConnectionError).problem).toBe('permission-denied');
      expect((err as Error).message).toContain(`may not create schema analytics: an admin creates it (CREATE SCHEMA analytics AUTHORIZATION ${role})`);
    } finally {
      await asAdmin('postgres', [`DROP DATABASE IF EXISTS ${empty} WITH (FORCE)`]);
    }
  });

  it('a schema an older release made, a migration pending it may not apply: names the grant, starts once an admin migrated', async () => {
    const legacy = uniqueName('mf_legacy');
    await asAdmin('postgres', [
      `CREATE DATABASE ${legacy}`,
      `REVOKE ALL ON DATABASE ${legacy} FROM PUBLIC`,
      `GRANT CONNECT, TEMP ON DATABASE ${legacy} TO ${role}`,
    ]);
    try {
      await asAdmin(legacy, [...(await schemaBeforeMigrations()), ...grants]);
      const err = await Warehouse.connect(urlOf(PG_ADMIN, role, legacy)).catch((e: unknown) => e);
      expect((err as WarehouseConnectionError).problem).toBe('permission-denied');
      expect((err as Error).message).toContain(`may not create table analytics.schema_migrations`);
      expect((err as Error).message).toContain(`GRANT CREATE ON SCHEMA analytics TO ${role}`);
      expect((err as Error).message).toContain('Pending: migration 1 (');

      expect(await migrateWarehouse(testConfig({ WAREHOUSE_URL: adminUrl(legacy) }))).toMatch(/every migration applied\n {2}1 {2}/);
      await asAdmin(legacy, [`GRANT SELECT ON analytics.schema_migrations TO ${role}`]);
      await (await Warehouse.connect(urlOf(PG_ADMIN, role, legacy))).close();
    } finally {
      await asAdmin('postgres', [`DROP DATABASE IF EXISTS ${legacy} WITH (FORCE)`]);
    }
  });
});
