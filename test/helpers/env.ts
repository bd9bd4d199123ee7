import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import { loadConfig, type Config } from '@musicflow/config';
import type { RunContext } from '@musicflow/contracts';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const SAMPLE = path.join(REPO, 'data', 'sample');
export const PG_ADMIN = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export const uniqueName = (prefix: string) => `${prefix}_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
export const dirUrl = (dir: string) => `${pathToFileURL(dir).href}/`;
export const fileUrl = (file: string) => pathToFileURL(file).href;

/** A run whose sources, lake and archive are under the folder `dir`, for a test of its artifacts. */
export const runIn = (dir: string): RunContext => ({
  runId: '20261206-020000-abcdef',
  trigger: 'test',
  startedAt: '2026-12-06T02:00:00.000Z',
  sources: { streams: `${dirUrl(dir)}in/`, users: `${dirUrl(dir)}users.csv`, songs: `${dirUrl(dir)}songs.csv` },
  lake: `${dirUrl(dir)}lake/`,
  archive: `${dirUrl(dir)}archive/`,
});

export async function tempDir(prefix = 'musicflow-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A new folder `name` in `parent` holding a copy of the sample's stream file `file`: one run's streams source. */
export async function sampleStreamsFolder(parent: string, name: string, file: string): Promise<string> {
  const dir = path.join(parent, name);
  await fs.mkdir(dir, { recursive: true });
  await fs.copyFile(path.join(SAMPLE, 'streams', file), path.join(dir, file));
  return dir;
}

/** A fresh database on the local server; returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const name = uniqueName('musicflow_test');
  const client = new pg.Client({ connectionString: PG_ADMIN });
  await client.connect();
  await client.query(`CREATE DATABASE ${name}`);
  await client.end();
  const url = new URL(PG_ADMIN);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function dropTestDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const client = new pg.Client({ connectionString: PG_ADMIN });
  await client.connect();
  await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await client.end();
}

/** Runs `statements` in order on one connection to `url`. */
export async function runStatements(url: string, statements: string[]): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    for (const statement of statements) await client.query(statement);
  } finally {
    await client.end();
  }
}

/** The statements of test/fixtures/warehouse-schema-010793d.sql: the schema a release before numbered migrations made. */
export async function schemaBeforeMigrations(): Promise<string[]> {
  const sql = await fs.readFile(path.join(REPO, 'test', 'fixtures', 'warehouse-schema-010793d.sql'), 'utf8');
  return sql
    .replace(/^--.*$/gm, '')
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Config for one test: its own queue prefix, database and lake, plus any overrides. */
export function testConfig(overrides: Record<string, string>): Config {
  return loadConfig({
    REDIS_URL,
    QUEUE_PREFIX: uniqueName('mft'),
    JOB_BACKOFF_MS: '100',
    JOB_ATTEMPTS: '3',
    LOG_LEVEL: 'warn',
    ...overrides,
  });
}
