/**
 * A run whose files span several listen dates: the KPI job adds one date job
 * per date, the dates are computed on two worker sets in parallel, and the
 * warehouse rows equal an independent DuckDB implementation of SPEC 4.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIds, type KpiDateResult, type KpiPassResult } from '@musicflow/contracts';
import { LAKE_LAYOUT, openLakePart, type LakePartReader } from '@musicflow/lake';
import { createObjectStore } from '@musicflow/storage';
import { createServiceContext, readRunProgress, startRun, type Service, type ServiceContext } from '@musicflow/flow';
import { PIPELINE_WORKERS, startServices } from '@musicflow/cli';
import { generate, type GeneratedData } from '../../bench/generate.ts';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, SAMPLE, tempDir, testConfig } from '../helpers/env.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { waitForReport } from '../helpers/pipeline.ts';

describe('a run over several listen dates', () => {
  let work: string;
  const warehouses: string[] = [];

  beforeAll(async () => {
    work = await tempDir();
  });
  afterAll(async () => {
    await Promise.all(warehouses.map(dropTestDatabase));
    await fs.rm(work, { recursive: true, force: true });
  });

  /** Generates a data set under `name`, runs it on two worker sets and returns what DuckDB computed from it. */
  async function runOnTwoWorkerSets(
    name: string,
    extra: Record<string, string>,
    shape: { events: number; files: number; days?: number } = { events: 30_000, files: 3 },
  ) {
    const root = path.join(work, name);
    // The benchmark's generator: the sample catalogue, skewed listeners and tracks, 5 days, a little dirt.
    const data: GeneratedData = await generate({ ...shape, root, sampleDir: SAMPLE });
    const warehouseUrl = await createTestDatabase();
    warehouses.push(warehouseUrl);
    const config = testConfig({
      WAREHOUSE_URL: warehouseUrl,
      STREAMS_URL: dirUrl(path.dirname(data.streamFiles[0]!)),
      USERS_URL: fileUrl(data.usersCsv),
      SONGS_URL: fileUrl(data.songsCsv),
      LAKE_URL: dirUrl(path.join(root, 'lake')),
      ...extra,
    });
    // Computed first: the run archives the stream files.
    const expected = await computeKpisWithDuckDB({ streamFiles: data.streamFiles, songsCsv: data.songsCsv });
    const contexts: ServiceContext[] = [0, 1].map((i) => createServiceContext(config, `replica-${i}`));
    const services: Service[] = (await Promise.all(contexts.map((ctx) => startServices(ctx, PIPELINE_WORKERS)))).flat();
    try {
      const { runId } = await startRun(config, contexts[0]!.queues, { trigger: 'test' });
      const report = await waitForReport(contexts[0]!, runId);
      expect(report.status).toBe('succeeded');
      const progress = await readRunProgress(contexts[0]!.queues, runId);
      const dateJobs = await Promise.all(
        report.dates.map(async (date) => {
          const { kpi } = contexts[0]!.queues.queues;
          const job = await kpi.getJob(jobIds.kpiDate(runId, date));
          const result = job!.returnvalue as KpiDateResult;
          const passJobs = await Promise.all(
            Array.from({ length: result.passes > 1 ? result.passes : 0 }, async (_, p) => {
              const pass = await kpi.getJob(jobIds.kpiPass(runId, date, p, result.passes));
              return { state: await pass!.getState(), result: pass!.returnvalue as KpiPassResult };
            }),
          );
          return { state: await job!.getState(), result, passJobs };
        }),
      );
      return { report, progress, dateJobs, expected, warehouseUrl, lake: config.LAKE_URL };
    } finally {
      await Promise.all(services.map((s) => s.close()));
      await Promise.all(contexts.map((c) => c.close()));
    }
  }

  let onePassDuplicates: number | undefined;

  it('computes each date in its own job, with two worker sets, and matches DuckDB', async () => {
    const { report, progress, dateJobs, expected, warehouseUrl } = await runOnTwoWorkerSets('one-pass', { CHUNK_BYTES: String(128 * 1024) });
    expect(report.dates).toEqual(['2024-06-25', '2024-06-26', '2024-06-27', '2024-06-28', '2024-06-29']);
    for (const job of dateJobs) expect(job.state).toBe('completed');
    // Progress counts the date jobs with their stage: the run's job and five dates.
    expect(progress.stages.kpi).toMatchObject({ total: 6, completed: 6 });
    expect(report.kpiRows.hourly).toBe(expected.hourly.length);
    expectSameKpis(await readWarehouseKpis(warehouseUrl), expected);
    // The generator repeats some events exactly.
    expect(report.rows.duplicate).toBeGreaterThan(0);
    onePassDuplicates = report.rows.duplicate;
  });

  it('lets each pass of a big day read only the row groups of its own users, with the same rows as DuckDB', async () => {
    // One day of 300k events in one file: parts ordered by user bucket, in row groups a pass can skip. At most
    // 100k events a pass takes 3 passes, rounded up to 4 for the KPI workers' 2 job slots (one process, 2 at once).
    const { report, dateJobs, expected, warehouseUrl } = await runOnTwoWorkerSets(
      'buckets',
      { KPI_EVENTS_PER_PASS: '100000', WORKER_CONCURRENCY: '2' },
      { events: 300_000, files: 1, days: 1 },
    );
    expect(report.dates).toHaveLength(1);
    const [date] = dateJobs;
    expect(date!.result.passes).toBe(4);
    const passes = date!.passJobs.map((p) => p.result);
    expect(passes.reduce((n, p) => n + p.rows, 0)).toBe(date!.result.rows);
    for (const p of passes) {
      // A quarter of the users, read from little more than a quarter of the day: not the whole day per pass.
      expect(p.rowsRead).toBeLessThan(0.4 * date!.result.rows);
      expect(p.rowsRead).toBeGreaterThanOrEqual(p.rows);
    }
    expectSameKpis(await readWarehouseKpis(warehouseUrl), expected);
  });

  it('splits a date into parallel pass jobs over shares of its users when it has more events than KPI_EVENTS_PER_PASS, with the same rows', async () => {
    // About 6,000 events a date: 6 or 7 passes of at most 1,000.
    const { report, progress, dateJobs, expected, warehouseUrl } = await runOnTwoWorkerSets('passes', {
      CHUNK_BYTES: String(128 * 1024),
      KPI_EVENTS_PER_PASS: '1000',
    });
    for (const job of dateJobs) {
      expect(job.result.passes).toBe(Math.ceil(job.result.rows / 1000));
      // One job per pass, each over its own share of the date's events.
      expect(job.passJobs.map((p) => [p.state, p.result.pass])).toEqual(job.passJobs.map((_, p) => ['completed', p]));
      expect(job.passJobs.reduce((n, p) => n + p.result.rows, 0)).toBe(job.result.rows);
      expect(job.passJobs.every((p) => p.result.rows > 0 && p.result.rows < job.result.rows)).toBe(true);
    }
    expect(Math.min(...dateJobs.map((j) => j.result.passes))).toBeGreaterThan(1);
    const passJobs = dateJobs.reduce((n, j) => n + j.passJobs.length, 0);
    expect(progress.stages.kpi).toMatchObject({ total: 6 + passJobs, completed: 6 + passJobs });
    // The same generated data as the one-pass run: the same events found to be duplicates.
    expect(report.rows.duplicate).toBe(onePassDuplicates);
    expectSameKpis(await readWarehouseKpis(warehouseUrl), expected);
  });

  it('gives tracks first seen in later row groups their catalogue info, and splits a date of many distinct tracks into passes, with the same rows as DuckDB', async () => {
    // One day of 250k events in one file, one chunk: its part is written in row groups by user bucket, and
    // tracks of the skewed tail first appear in later ones. Its distinct tracks, not its events, split it into passes.
    const { report, expected, warehouseUrl, lake, dateJobs } = await runOnTwoWorkerSets(
      'row-groups',
      { KPI_TRACKS_PER_PASS: '5000' },
      { events: 250_000, files: 1, days: 1 },
    );
    expect(report.status).toBe('succeeded');
    const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
    const parts: LakePartReader[] = [];
    for (const date of report.dates) {
      for await (const part of store.list(LAKE_LAYOUT.processedDate(lake, date))) parts.push(await openLakePart(store, part.url));
    }
    expect(parts).toHaveLength(1);
    expect(parts[0]!.rowGroups).toBeGreaterThan(5);
    expect(parts[0]!.format.distinctTracksAtMost).toBeGreaterThan(10_000);
    expect(dateJobs[0]!.result.passes).toBe(Math.ceil(parts[0]!.format.distinctTracksAtMost / 5000));
    await store.close();
    expectSameKpis(await readWarehouseKpis(warehouseUrl), expected);
  });
});
