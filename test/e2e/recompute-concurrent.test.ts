/**
 * SPEC 4.3 with a recompute and an ingest run in flight together over the
 * same listen dates: once both succeed, the warehouse holds the rows of every
 * valid event ingested, each once (the DuckDB oracle), whichever run read the
 * lake first and whichever loaded last. The interleavings are forced with
 * BullMQ's own controls (a paused queue, a job moved to the head of its
 * queue), so each round is the same on every machine:
 * 1. the recompute reads the lake before the ingest run publishes its parts,
 *    and loads after it: its stale snapshot is loaded last and must be dropped;
 * 2. the recompute reads after the ingest run published, and the ingest run
 *    loads last: its older snapshot must not replace the recompute's rows.
 * A recompute on its own afterwards changes nothing.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Job } from 'bullmq';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '@musicflow/config';
import { jobIds, type RunReport } from '@musicflow/contracts';
import { startRecompute, startRun } from '@musicflow/flow';
import { generate, type GeneratedData } from '../../bench/generate.ts';
import { deleteKeys, waitFor } from '../api/fixtures.ts';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, SAMPLE, tempDir, testConfig } from '../helpers/env.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { startPipeline, waitForReport, type TestPipeline } from '../helpers/pipeline.ts';

const FIRST_DATE = '2024-06-25';
/** Every listen date of the lake (the generator's start on). */
const ALL_DATES = { from: FIRST_DATE, reEnrich: false };

describe('a recompute and an ingest run at once over the same dates lose and double nothing', () => {
  let work: string;
  let streams: string;
  let data: GeneratedData;
  let warehouseUrl: string;
  let config: Config;
  let pipeline: TestPipeline;
  /** Every stream file ingested so far, re-deliveries included: the oracle counts each event once. */
  const ingested: string[] = [];

  /** Lands a generated file (or `text`) in the streams folder under `name`. */
  const land = async (name: string, text?: string | Buffer) => {
    const source = text === undefined ? data.streamFiles.find((f) => path.basename(f) === name)! : path.join(work, 'landed', name);
    if (text !== undefined) {
      await fs.mkdir(path.dirname(source), { recursive: true });
      await fs.writeFile(source, text);
    }
    await fs.copyFile(source, path.join(streams, name));
    ingested.push(source);
  };

  const queues = () => pipeline.ctx.queues.queues;
  const job = async (stage: 'kpi' | 'load', id: string): Promise<Job> => (await queues()[stage].getJob(id))!;
  const stateOf = (stage: 'kpi' | 'load', id: string) => queues()[stage].getJobState(id);
  /** Puts a waiting job at the head of its (paused) queue: the worker takes it next. */
  const takeNext = async (stage: 'kpi' | 'load', id: string) => (await job(stage, id)).changePriority({ priority: 0, lifo: true });
  const oracle = () => computeKpisWithDuckDB({ streamFiles: ingested, songsCsv: data.songsCsv });
  const plays = (kpis: { hourly: { totalPlays: number }[] }) => kpis.hourly.reduce((n, h) => n + h.totalPlays, 0);

  async function writersOfRows(): Promise<string[]> {
    const client = new pg.Client({ connectionString: warehouseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ run_id: string }>(
        'SELECT DISTINCT run_id FROM (SELECT run_id FROM analytics.hourly_kpis UNION ALL SELECT run_id FROM analytics.genre_kpis) k ORDER BY run_id',
      );
      return rows.map((r) => r.run_id);
    } finally {
      await client.end();
    }
  }

  /** Both runs succeeded with every data check passed, and were in flight together. */
  function expectSucceededTogether(ingest: RunReport, recompute: RunReport) {
    for (const report of [ingest, recompute]) {
      expect(report.status).toBe('succeeded');
      expect(report.checks?.filter((c) => !c.passed)).toEqual([]);
    }
    expect(recompute.trigger).toBe('recompute');
    expect(Date.parse(recompute.startedAt)).toBeLessThan(Date.parse(ingest.finishedAt!));
    expect(Date.parse(ingest.startedAt)).toBeLessThan(Date.parse(recompute.finishedAt!));
  }

  /** Resumes the paused loader with `first`'s load at its head; returns both reports once loaded. */
  async function loadInOrder(first: string, second: string): Promise<[RunReport, RunReport]> {
    for (const runId of [first, second]) await waitFor(`load of ${runId} waiting`, async () => (await stateOf('load', jobIds.load(runId))) === 'waiting');
    await takeNext('load', jobIds.load(first));
    await queues().load.resume();
    const reports = await Promise.all([waitForReport(pipeline.ctx, first), waitForReport(pipeline.ctx, second)]);
    const [firstLoad, secondLoad] = await Promise.all([job('load', jobIds.load(first)), job('load', jobIds.load(second))]);
    // An ingest run's load commits, then adds its archive jobs and waits for them: the first was added once it had committed.
    const firstArchive = await queues().load.getJob(jobIds.archive(first, 0));
    const firstCommitted = firstArchive?.timestamp ?? firstLoad.finishedOn!;
    // The first load committed before the second one started: `second`'s rows met `first`'s in the warehouse.
    expect(firstCommitted).toBeLessThanOrEqual(secondLoad.processedOn!);
    return reports;
  }

  beforeAll(async () => {
    work = await tempDir();
    streams = path.join(work, 'bucket', 'streams');
    await fs.mkdir(streams, { recursive: true });
    // The benchmark's generator: 3 listen dates, each file spans all of them, a little dirt and cross-file duplicates.
    data = await generate({ events: 15_000, files: 5, days: 3, root: path.join(work, 'generated'), sampleDir: SAMPLE });
    warehouseUrl = await createTestDatabase();
    config = testConfig({
      WAREHOUSE_URL: warehouseUrl,
      STREAMS_URL: dirUrl(streams),
      USERS_URL: fileUrl(data.usersCsv),
      SONGS_URL: fileUrl(data.songsCsv),
      LAKE_URL: dirUrl(path.join(work, 'lake')),
      ARCHIVE_URL: dirUrl(path.join(work, 'bucket', 'archive')),
      // One job at a time per stage: the order the queues hand jobs out in is the order they run in.
      WORKER_CONCURRENCY: '1',
    });
    pipeline = await startPipeline(config);
    await land('streams01.csv');
    await land('streams02.csv');
    const first = await pipeline.run();
    expect(first).toMatchObject({ status: 'succeeded', dates: ['2024-06-25', '2024-06-26', '2024-06-27'] });
  });

  afterAll(async () => {
    await pipeline?.close();
    if (pipeline) await deleteKeys(config.QUEUE_PREFIX);
    if (warehouseUrl) await dropTestDatabase(warehouseUrl);
    if (work) await fs.rm(work, { recursive: true, force: true });
  });

  it('a recompute that read the lake before the ingest run published, and loads after it, leaves the ingest run rows', async () => {
    const before = await readWarehouseKpis(warehouseUrl);
    // More events for every loaded date, a late file for one of them, and a file delivered again.
    await land('streams03.csv');
    const late = (await fs.readFile(data.streamFiles[3]!, 'utf8'))
      .split('\n')
      .filter((line, i) => i === 0 || line.includes(`,${FIRST_DATE} `))
      .join('\n');
    await land(`late-${FIRST_DATE}.csv`, late);
    await land('streams01.csv');

    // The ingest run is held before its transforms (so before it publishes), both loads before the loader.
    await queues().transform.pause();
    await queues().load.pause();
    const [ingest, recompute] = await Promise.all([
      startRun(config, pipeline.ctx.queues, { trigger: 'test' }),
      startRecompute(config, pipeline.ctx.queues, ALL_DATES),
    ]);
    expect(ingest.created).toBe(true);
    await waitFor('the recompute to read its dates', async () => (await stateOf('kpi', jobIds.recompute(recompute.runId))) === 'completed');
    expect(await stateOf('kpi', jobIds.kpi(ingest.runId))).toBe('waiting-children');
    await queues().transform.resume();
    await waitFor('the ingest run to compute its dates', async () => (await stateOf('kpi', jobIds.kpi(ingest.runId))) === 'completed');

    // The ingest run loads first; the recompute's older snapshot arrives last.
    const [ingestReport, recomputeReport] = await loadInOrder(ingest.runId, recompute.runId);
    expectSucceededTogether(ingestReport, recomputeReport);
    expect(ingestReport.files).toMatchObject({ total: 3, loaded: 3 });
    expect(recomputeReport.dates).toEqual(['2024-06-25', '2024-06-26', '2024-06-27']);
    // The recompute counted the first files' events only: its snapshot predates the ingest run's parts.
    expect(recomputeReport.rows.valid).toBe(plays(before));
    const recomputeDateJobs = await Promise.all(recomputeReport.dates.map((d) => job('kpi', jobIds.kpiDate(recompute.runId, d))));
    const ingestPublish = await job('kpi', jobIds.kpi(ingest.runId));
    expect(Math.max(...recomputeDateJobs.map((j) => j.finishedOn!))).toBeLessThan(ingestPublish.processedOn!);

    const after = await readWarehouseKpis(warehouseUrl);
    expect(plays(after)).toBeGreaterThan(plays(before));
    expectSameKpis(after, await oracle());
    expect(await writersOfRows()).toEqual([ingest.runId]);
  });

  it('a recompute that read the lake after the ingest run published, and loads first, keeps its rows when the ingest run loads', async () => {
    await land('streams04.csv');
    await land('streams05.csv.gz', gzipSync(await fs.readFile(data.streamFiles[4]!)));
    await land('streams02-resent.csv', await fs.readFile(data.streamFiles[1]!));

    // The recompute starts once the ingest run has committed its parts and taken its snapshot (its date jobs added).
    await queues().load.pause();
    const ingest = await startRun(config, pipeline.ctx.queues, { trigger: 'test' });
    await waitFor('the ingest run to commit', async () => (await queues().kpi.getJob(jobIds.kpi(ingest.runId)))?.data.dates !== undefined);
    const recompute = await startRecompute(config, pipeline.ctx.queues, ALL_DATES);
    await waitFor('both runs to compute their dates', async () => {
      const states = await Promise.all([stateOf('kpi', jobIds.kpi(ingest.runId)), stateOf('kpi', jobIds.recompute(recompute.runId))]);
      return states.every((s) => s === 'completed');
    });

    // The recompute loads first; the ingest run's older snapshot arrives last.
    const [recomputeReport, ingestReport] = await loadInOrder(recompute.runId, ingest.runId);
    expectSucceededTogether(ingestReport, recomputeReport);
    expect(ingestReport.files).toMatchObject({ total: 3, loaded: 3 });
    const [ingestPublish, recomputeJob] = await Promise.all([job('kpi', jobIds.kpi(ingest.runId)), job('kpi', jobIds.recompute(recompute.runId))]);
    // The recompute's snapshot is the newer one: it started reading once the ingest run had published.
    expect(ingestPublish.data.dates.snapshotSeq).toBeLessThan(recomputeJob.data.dates.snapshotSeq);

    const after = await readWarehouseKpis(warehouseUrl);
    const expected = await oracle();
    expect(recomputeReport.rows.valid).toBe(plays(expected));
    expectSameKpis(after, expected);
    expect(await writersOfRows()).toEqual([recompute.runId]);
  });

  it('a recompute on its own afterwards changes no KPI', async () => {
    const before = await readWarehouseKpis(warehouseUrl);
    const { runId } = await startRecompute(config, pipeline.ctx.queues, ALL_DATES);
    const report = await waitForReport(pipeline.ctx, runId);
    expect(report.status).toBe('succeeded');
    expect(await readWarehouseKpis(warehouseUrl)).toEqual(before);
    expect(await writersOfRows()).toEqual([runId]);
  });
});
