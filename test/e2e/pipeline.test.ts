/**
 * The sample data through the whole flow, three runs in a row against real
 * Redis, PostgreSQL and the file:// store, each checked against figures
 * computed independently of the code under test: the published per-hour
 * listener counts, and a DuckDB implementation of SPEC 4.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import { hostname } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '@musicflow/config';
import { jobIds } from '@musicflow/contracts';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, REPO, SAMPLE, tempDir, testConfig } from '../helpers/env.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { startPipeline, type TestPipeline } from '../helpers/pipeline.ts';

const run = promisify(execFile);

// Published by an independent implementation over streams1.csv (data/sample/README.md).
const STREAMS1_LISTENERS_PER_HOUR = [376, 383, 356, 369, 379, 372, 362, 372, 375, 417, 402, 384, 358, 363, 383, 390, 343, 397, 384, 397, 381, 370, 386, 260];

describe('pipeline end to end on the sample data', () => {
  let work: string;
  let streams: string;
  let warehouseUrl: string;
  let config: Config;
  let env: Record<string, string>;
  let pipeline: TestPipeline;
  const sample = (name: string) => path.join(SAMPLE, 'streams', name);
  const today = new Date().toISOString().slice(0, 10).split('-');

  beforeAll(async () => {
    work = await tempDir();
    streams = path.join(work, 'bucket', 'streams');
    await fs.mkdir(streams, { recursive: true });
    warehouseUrl = await createTestDatabase();
    env = {
      WAREHOUSE_URL: warehouseUrl,
      STREAMS_URL: dirUrl(streams),
      USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
      SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
      LAKE_URL: dirUrl(path.join(work, 'lake')),
      // Small chunks, so each sample file is cut into several parallel chunks.
      CHUNK_BYTES: '150000',
    };
    config = testConfig(env);
    pipeline = await startPipeline(config);
  });

  afterAll(async () => {
    await pipeline?.close();
    await dropTestDatabase(warehouseUrl);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('loads one file: per-hour listeners match the published figures, the file is archived, temporaries go', async () => {
    await fs.copyFile(sample('streams1.csv'), path.join(streams, 'streams1.csv'));
    const report = await pipeline.run();

    expect(report.status).toBe('succeeded');
    expect(report.files).toMatchObject({ total: 1, loaded: 1, rejected: 0, firstRejected: [] });
    expect(report.rows).toMatchObject({ read: 11346, valid: 11346, rejected: 0, duplicate: 0 });
    expect(report.dates).toEqual(['2024-06-25']);

    const kpis = await readWarehouseKpis(warehouseUrl);
    expect(kpis.hourly.map((h) => h.uniqueListeners)).toEqual(STREAMS1_LISTENERS_PER_HOUR);
    expectSameKpis(kpis, await computeKpisWithDuckDB({ streamFiles: [sample('streams1.csv')], songsCsv: path.join(SAMPLE, 'songs.csv') }));

    await expect(fs.access(path.join(streams, 'streams1.csv'))).rejects.toThrow();
    await fs.access(path.join(work, 'bucket', 'archive', ...today, 'streams1.csv'));
    await fs.access(path.join(work, 'lake', 'processed', 'listen_date=2024-06-25', 'streams1.part-0000.parquet'));
    await expect(fs.readdir(path.join(work, 'lake', 'tmp', `run=${report.runId}`))).rejects.toThrow();

    const client = new pg.Client({ connectionString: warehouseUrl });
    await client.connect();
    const { rows } = await client.query('SELECT status, rows_read::int AS rows_read, rows_valid::int AS rows_valid, files_loaded FROM analytics.etl_runs');
    await client.end();
    expect(rows).toEqual([{ status: 'succeeded', rows_read: 11346, rows_valid: 11346, files_loaded: 1 }]);

    // Every job records the process that ran it (here, this one), for Bull Board and the bench's timeline.
    const loadJob = await pipeline.ctx.queues.queues.load.getJob(jobIds.load(report.runId));
    expect(loadJob?.processedBy).toBe(`${hostname()}:${process.pid}`);
  });

  it('a late file and re-delivered files give the rows of one run over everything', async () => {
    await fs.copyFile(sample('streams2.csv'), path.join(streams, 'streams2.csv'));
    // streams1 again under its own name, and once more under another name, gzipped.
    await fs.copyFile(sample('streams1.csv'), path.join(streams, 'streams1.csv'));
    await fs.writeFile(path.join(streams, 'resent-streams1.csv.gz'), gzipSync(await fs.readFile(sample('streams1.csv'))));
    const report = await pipeline.run();

    expect(report.status).toBe('succeeded');
    expect(report.files.loaded).toBe(3);
    expect(report.rows.read).toBe(11346 * 2 + 11346);
    // Every event of streams1 arrives twice in this run: one copy of each counts.
    expect(report.rows.duplicate).toBe(11346);

    const kpis = await readWarehouseKpis(warehouseUrl);
    const expected = await computeKpisWithDuckDB({
      streamFiles: [sample('streams1.csv'), sample('streams2.csv')],
      songsCsv: path.join(SAMPLE, 'songs.csv'),
    });
    expectSameKpis(kpis, expected);
    expect(kpis.hourly.reduce((n, h) => n + h.totalPlays, 0)).toBe(11346 + 11346 - 0);
  });

  it('a batch with bad rows and a file missing a column: exit 2, file left in place and named, rows quarantined', async () => {
    const lines = (await fs.readFile(sample('streams3.csv'), 'utf8')).trimEnd().split('\n');
    // Three bad rows far apart (so in different chunks); well under the 5% threshold.
    lines.splice(10, 0, '0,4dBa8T7oDV9WvGr7kVS4Ez,2024-06-25 17:43:13');
    lines.splice(5000, 0, '12,bad track,2024-06-25 17:43:13');
    lines.splice(11000, 0, '13,4dBa8T7oDV9WvGr7kVS4Ez,2024-06-31 10:00:00');
    await fs.writeFile(path.join(streams, 'streams3.csv'), `${lines.join('\r\n')}\r\n`);
    await fs.writeFile(path.join(streams, 'no-time.csv'), 'user_id,track_id\n1,4dBa8T7oDV9WvGr7kVS4Ez\n');
    await fs.writeFile(path.join(streams, 'mostly-bad.csv'), 'user_id,track_id,listen_time\n1,a,2024-06-25 01:00:00\nx,b,2024-06-25 01:00:00\n');

    const cli = await run(process.execPath, [path.join(REPO, 'bin', 'musicflow.mjs'), 'run', '--wait'], {
      env: { ...process.env, ...env, QUEUE_PREFIX: config.QUEUE_PREFIX, LOG_LEVEL: 'warn' },
    }).then(
      () => ({ code: 0, stdout: '' }),
      (err: { code: number; stdout: string }) => err,
    );
    expect(cli.code).toBe(2);
    expect(cli.stdout).toContain('PARTIAL');
    expect(cli.stdout).toContain('no-time.csv');
    expect(cli.stdout).toContain('missing column(s): listen_time');
    expect(cli.stdout).toContain('mostly-bad.csv');

    // Rejected files stay where they were; the good one is archived.
    await fs.access(path.join(streams, 'no-time.csv'));
    await fs.access(path.join(streams, 'mostly-bad.csv'));
    await expect(fs.access(path.join(streams, 'streams3.csv'))).rejects.toThrow();

    const runDir = (await fs.readdir(path.join(work, 'lake', 'quarantine'))).sort().at(-1)!;
    /** A file's quarantine of this run, as `file,line,reason` lines. */
    const quarantined = async (file: string) =>
      (await fs.readFile(path.join(work, 'lake', 'quarantine', runDir, file), 'utf8'))
        .trimEnd()
        .split('\n')
        .map((l) => l.split(',').slice(0, 3).join(','));
    expect(await quarantined('streams3.csv')).toEqual([
      'file,line,reason',
      'streams3.csv,11,invalid_user_id',
      'streams3.csv,5001,invalid_track_id',
      'streams3.csv,11001,invalid_listen_time',
    ]);
    // A file of one segment: its quarantine moved into place whole, under the same header.
    expect(await quarantined('mostly-bad.csv')).toEqual(['file,line,reason', 'mostly-bad.csv,3,invalid_user_id']);

    const kpis = await readWarehouseKpis(warehouseUrl);
    const expected = await computeKpisWithDuckDB({
      streamFiles: [sample('streams1.csv'), sample('streams2.csv'), path.join(work, 'bucket', 'archive', ...today, 'streams3.csv')],
      songsCsv: path.join(SAMPLE, 'songs.csv'),
    });
    expectSameKpis(kpis, expected);
  });

  it('a catalogue that cannot be read fails the run, naming the source and the problem, and leaves the batch in place', async () => {
    const own = path.join(work, 'catalogue-fails');
    await fs.mkdir(path.join(own, 'streams'), { recursive: true });
    await fs.copyFile(sample('streams1.csv'), path.join(own, 'streams', 'streams1.csv'));
    const songs = path.join(own, 'songs.csv');
    await fs.writeFile(songs, 'track_id,artists,album_name,track_name,popularity,duration_ms\n1,A,B,C,1,1000\n');

    const report = await pipeline.run({ streams: dirUrl(path.join(own, 'streams')), songs: fileUrl(songs) });
    expect(report.status).toBe('failed');
    expect(report.error).toMatch(/extract-\S+: catalogue: \S+songs.csv: missing column\(s\) track_genre/);
    await fs.access(path.join(own, 'streams', 'streams1.csv'));
  });
});
