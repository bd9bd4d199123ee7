/**
 * Recompute from the lake: after `DROP SCHEMA analytics CASCADE`, a recompute
 * run (POST /recompute) gives back the same KPI rows, recorded as a run with
 * trigger `recompute`; a range recomputes only its dates; the CLI waits for it;
 * `reEnrich` after a catalogue change moves the new track's plays into its
 * genres (the rows of one run with the new catalogue from the start).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '@musicflow/service-api';
import { deleteKeys, makeBucket, sampleStreams, type Bucket } from '../api/fixtures.ts';
import { createTestDatabase, dropTestDatabase, REPO, testConfig } from '../helpers/env.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';
import { startPipeline, waitForReport, type TestPipeline } from '../helpers/pipeline.ts';

const run = promisify(execFile);

describe('recompute KPIs from the lake', () => {
  let db: string;
  let bucket: Bucket;
  let pipeline: TestPipeline;
  let app: FastifyInstance;
  let songsFile: string;
  let fullCatalogue: string;
  const LATE_TRACK = '4dBa8T7oDV9WvGr7kVS4Ez';

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(2, 120);
    await bucket.addStream('next-day.csv', (await sampleStreams(0, 80)).replaceAll('2024-06-25', '2024-06-26'));
    // One played track joins the catalogue only after its events were ingested.
    songsFile = fileURLToPath(bucket.env.SONGS_URL!);
    fullCatalogue = await fs.readFile(songsFile, 'utf8');
    expect(fullCatalogue).toContain(LATE_TRACK);
    await fs.writeFile(
      songsFile,
      fullCatalogue
        .split('\n')
        .filter((l) => !l.includes(LATE_TRACK))
        .join('\n'),
    );
    // The catalogue in several jobs a table: the ingest run's transforms and the re-enrich join every shard's snapshot.
    pipeline = await startPipeline(testConfig({ ...bucket.env, WAREHOUSE_URL: db, CATALOGUE_TRACKS_PER_JOB: '100', CATALOGUE_USERS_PER_JOB: '100' }));
    app = await buildApp(pipeline.ctx);
    const report = await pipeline.run();
    expect(report.status).toBe('succeeded');
  });

  afterAll(async () => {
    await app?.close();
    await pipeline?.close();
    if (pipeline) await deleteKeys(pipeline.ctx.config.QUEUE_PREFIX);
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  const recompute = async (body: object) => {
    const res = await app.inject({ method: 'POST', url: '/recompute', payload: body });
    expect(res.statusCode).toBe(202);
    return waitForReport(pipeline.ctx, res.json().runId);
  };

  it('after DROP SCHEMA analytics CASCADE a recompute over all dates gives back the same rows', async () => {
    const before = await readWarehouseKpis(db);
    expect(before.hourly.length).toBeGreaterThan(24);
    const warehouse = await pipeline.ctx.warehouse();
    await warehouse.query('DROP SCHEMA analytics CASCADE');

    const report = await recompute({ from: '2000-01-01' });
    expect(report).toMatchObject({ trigger: 'recompute', status: 'succeeded', dates: ['2024-06-25', '2024-06-26'], files: { total: 0 } });
    expect(report.rows).toMatchObject({ read: 320, valid: 320 });
    expect(report.checks?.every((c) => c.passed)).toBe(true);
    expect(await readWarehouseKpis(db)).toEqual(before);

    const runs = await warehouse.query<{ run_id: string; trigger: string; status: string }>('SELECT run_id, trigger, status FROM analytics.etl_runs');
    expect(runs).toEqual([{ run_id: report.runId, trigger: 'recompute', status: 'succeeded' }]);
    const listed = (await app.inject('/runs')).json();
    expect(listed.runs[0]).toMatchObject({ runId: report.runId, trigger: 'recompute', status: 'succeeded' });
  });

  it('a range recomputes its dates only; a bad range is a 400 naming the field', async () => {
    const report = await recompute({ from: '2024-06-26', to: '2024-06-26' });
    expect(report.dates).toEqual(['2024-06-26']);
    const warehouse = await pipeline.ctx.warehouse();
    const writers = await warehouse.query<{ listen_date: string; run_id: string }>(
      'SELECT DISTINCT listen_date, run_id FROM analytics.hourly_kpis ORDER BY listen_date',
    );
    expect(writers.map((w) => w.listen_date)).toEqual(['2024-06-25', '2024-06-26']);
    expect(writers.find((w) => w.listen_date === '2024-06-26')?.run_id).toBe(report.runId);
    expect(writers.find((w) => w.listen_date === '2024-06-25')?.run_id).not.toBe(report.runId);

    const bad = await app.inject({ method: 'POST', url: '/recompute', payload: { from: '2024-06-26', to: '2024-06-25' } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toContain('to');
    const notDate = await app.inject({ method: 'POST', url: '/recompute', payload: { from: '26/06/2024' } });
    expect(notDate.statusCode).toBe(400);
    expect(notDate.json().message).toContain('from');
  });

  it("reEnrich after a catalogue change: the late track's plays count in its genres, and the rows are those of the new catalogue", async () => {
    const before = await readWarehouseKpis(db);
    await fs.writeFile(songsFile, fullCatalogue);
    const report = await recompute({ from: '2024-06-25', reEnrich: true });
    expect(report).toMatchObject({ status: 'succeeded', dates: ['2024-06-25', '2024-06-26'] });
    const songsJobs = (await pipeline.ctx.queues.queues.extract.getJobs(['completed'])).filter((j) => j.id!.startsWith(`extract-${report.runId}-songs-`));
    expect(songsJobs.length).toBeGreaterThan(1);
    const after = await readWarehouseKpis(db);
    expect(after).not.toEqual(before);
    const archived: string[] = [];
    for (const entry of await fs.readdir(path.join(bucket.root, 'bucket', 'archive'), { recursive: true, withFileTypes: true })) {
      if (entry.isFile()) archived.push(path.join(entry.parentPath, entry.name));
    }
    expect(archived).toHaveLength(3);
    expectSameKpis(after, await computeKpisWithDuckDB({ streamFiles: archived, songsCsv: songsFile }));
    // Hourly plays and listeners are not touched by the catalogue.
    expect(after.hourly.map((h) => [h.totalPlays, h.uniqueListeners])).toEqual(before.hourly.map((h) => [h.totalPlays, h.uniqueListeners]));
  });

  it('musicflow recompute --from --to --wait prints the report and exits 0', async () => {
    const { stdout } = await run(
      process.execPath,
      [path.join(REPO, 'bin', 'musicflow.mjs'), 'recompute', '--from', '2024-06-25', '--to', '2024-06-25', '--wait'],
      {
        env: { ...process.env, ...bucket.env, WAREHOUSE_URL: db, QUEUE_PREFIX: pipeline.ctx.config.QUEUE_PREFIX, LOG_LEVEL: 'warn' },
      },
    );
    expect(stdout).toMatch(/recompute run \S+-recompute enqueued \(2024-06-25 to 2024-06-25\)/);
    expect(stdout).toContain('SUCCEEDED');
    expect(stdout).toContain('2024-06-25');
  });
});
