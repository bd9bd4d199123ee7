/**
 * TLS everywhere: a private PostgreSQL with ssl=on that rejects unencrypted
 * connections (RDS' rds.force_ssl), holding the warehouse and the RDS
 * catalogue, and a private Redis that speaks TLS only (ElastiCache in-transit
 * encryption), each with a certificate from a CA this test makes. A run over
 * them succeeds with the server certificates verified against that CA; a
 * plaintext or wrong-CA connection is refused with a message that says so and
 * names the setting to change.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogueTarget, loadConfig, type Config } from '@musicflow/config';
import { readCatalogueSource } from '@musicflow/ingest';
import { createObjectStore } from '@musicflow/storage';
import { Warehouse, WarehouseConnectionError } from '@musicflow/warehouse';
import { checkServices } from '../../apps/cli/src/preflight.ts';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';
import { dirUrl, SAMPLE, sampleStreamsFolder, tempDir, testConfig } from '../helpers/env.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { startPipeline } from '../helpers/pipeline.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';
import { startPrivateRedis, type PrivateRedis } from '../helpers/private-redis.ts';
import { loadRdsTables } from '../helpers/rds.ts';
import { makeCertificates, type TestCertificates } from '../helpers/tls.ts';

describe('TLS to PostgreSQL (warehouse, RDS catalogue) and Redis', () => {
  let dir: string;
  let certs: TestCertificates;
  let postgres: PrivatePostgres;
  let redis: PrivateRedis;
  /** The private server's database over TLS, verified against `ca` (verify-full unless told). */
  let pgUrl: (database: string, tls?: string) => string;
  let config: Config;

  beforeAll(async () => {
    dir = await tempDir('musicflow-tls-');
    certs = await makeCertificates(dir);
    [postgres, redis] = await Promise.all([
      startPrivatePostgres('admin-password', { tls: certs }),
      startPrivateRedis({ tls: { cert: certs.cert, key: certs.key, ca: certs.ca } }),
    ]);
    pgUrl = (database, tls = `sslmode=verify-full&sslrootcert=${certs.ca}`) => `${postgres.url('admin', 'admin-password', database)}${tls ? `?${tls}` : ''}`;
    const admin = new pg.Client({ connectionString: pgUrl('postgres') });
    await admin.connect();
    await admin.query('CREATE DATABASE rds');
    await admin.end();
    await loadRdsTables(pgUrl('rds'));
    config = testConfig({
      REDIS_URL: `rediss://127.0.0.1:${redis.port}`,
      REDIS_CA_FILE: certs.ca,
      WAREHOUSE_URL: pgUrl('musicflow'),
      USERS_URL: pgUrl('rds'),
      SONGS_URL: pgUrl('rds'),
      STREAMS_URL: dirUrl(await sampleStreamsFolder(dir, 'streams', 'streams1.csv')),
      LAKE_URL: dirUrl(path.join(dir, 'lake')),
    });
  }, 120_000);

  afterAll(async () => {
    await Promise.all([postgres?.stop(), redis?.stop()]);
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('a run over TLS only: Redis (rediss://), the warehouse and the RDS catalogue (sslmode=verify-full) with the test CA', async () => {
    const pipeline = await startPipeline(config);
    try {
      const report = await pipeline.run();
      expect(report.status).toBe('succeeded');
      expect(report.catalogue).toMatchObject({ users: 8956, songs: 10656, rejected: 0 });
      expectSameKpis(
        await readWarehouseKpis(config.WAREHOUSE_URL),
        await computeKpisWithDuckDB({ streamFiles: [path.join(SAMPLE, 'streams', 'streams1.csv')], songsCsv: path.join(SAMPLE, 'songs.csv') }),
      );
    } finally {
      await pipeline.close();
    }
    // Every session of the warehouse and the catalogue was encrypted (the server refuses the others, checked below).
    const client = new pg.Client({ connectionString: pgUrl('postgres') });
    await client.connect();
    const { rows } = await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    await client.end();
    expect(rows).toEqual([{ ssl: true }]);
  });

  it('PostgreSQL without TLS is refused: the message says so and names WAREHOUSE_URL or USERS_URL', async () => {
    const err = await Warehouse.connect(pgUrl('musicflow', '')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WarehouseConnectionError);
    expect((err as WarehouseConnectionError).problem).toBe('tls-required');
    expect((err as Error).message).toMatch(
      /^PostgreSQL refuses unencrypted connections at postgres:\/\/admin:\*\*\*@127\.0\.0\.1:\d+\/musicflow \(.*no encryption/,
    );
    expect((err as Error).message).toContain('add sslmode=verify-full&sslrootcert=<CA bundle file> to WAREHOUSE_URL');

    const plainUsers = pgUrl('rds', '');
    const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
    const rows = readCatalogueSource(store, catalogueTarget(loadConfig({ USERS_URL: plainUsers }), 'users', plainUsers), 'users', ['user_id']);
    await expect(rows.next()).rejects.toThrow(/refuses unencrypted connections .* to USERS_URL/);
    await store.close();
  });

  it('a certificate from another CA is refused, naming sslrootcert in WAREHOUSE_URL; sslmode=require encrypts without checking it', async () => {
    const err = await Warehouse.connect(pgUrl('musicflow', `sslmode=verify-full&sslrootcert=${certs.otherCa}`)).catch((e: unknown) => e);
    expect((err as WarehouseConnectionError).problem).toBe('tls-certificate');
    expect((err as Error).message).toContain("PostgreSQL's certificate is not trusted");
    expect((err as Error).message).toContain('not signed by a CA that sslrootcert in WAREHOUSE_URL trusts');

    // libpq's meaning of require (node-postgres alone would verify the certificate against the public CAs and fail).
    const warehouse = await Warehouse.connect(pgUrl('musicflow', 'sslmode=require'));
    try {
      expect(await warehouse.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).toEqual([{ ssl: true }]);
    } finally {
      await warehouse.close();
    }
  });

  it('Redis: a plaintext client is told the server may take TLS only (use rediss://), a wrong CA names REDIS_CA_FILE', async () => {
    const plain = loadConfig({ REDIS_URL: `redis://127.0.0.1:${redis.port}`, WAREHOUSE_URL: config.WAREHOUSE_URL });
    const [plainProblem] = await checkServices(plain);
    expect(plainProblem).toMatch(
      /^Redis at redis:\/\/127\.0\.0\.1:\d+ closed the connection without answering .*it may accept TLS only: use rediss:\/\/ in REDIS_URL/,
    );

    const wrongCa = loadConfig({ REDIS_URL: config.REDIS_URL, REDIS_CA_FILE: certs.otherCa, WAREHOUSE_URL: config.WAREHOUSE_URL });
    const [caProblem] = await checkServices(wrongCa);
    expect(caProblem).toMatch(
      /^Redis at rediss:\/\/127\.0\.0\.1:\d+: TLS refused \(.*\): the server's certificate is not signed by a CA that REDIS_CA_FILE trusts/,
    );

    expect(await checkServices(config)).toEqual([]);
  });
});
