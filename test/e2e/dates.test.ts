/**
 * A run whose files span several listen dates: the KPI job adds one date job
 * per date, the dates are computed on two worker sets in parallel, and the
 * warehouse rows equal an independent DuckDB implementation of SPEC 4.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { jobIds } from '@musicflow/contracts';
import { createServiceContext, readRunProgress, startRun, type Service, type ServiceContext } from '@musicflow/flow';
import { PIPELINE_WORKERS, startServices } from '@musicflow/cli';
import { generate, type GeneratedData } from '../../bench/generate.ts';
import { computeKpisWithDuckDB } from '../oracle/duckdb-kpis.ts';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, SAMPLE, tempDir, testConfig } from '../helpers/env.ts';
import { expectSameKpis, readWarehouseKpis } from '../helpers/kpis.ts';
import { waitForReport } from '../helpers/pipeline.ts';

describe('a run over several listen dates', () => {
  let work: string;
  let data: GeneratedData;
  let warehouseUrl: string;

  beforeAll(async () => {
    work = await tempDir();
    // The benchmark's generator: the sample catalogue, skewed listeners and tracks, 5 days, a little dirt.
    data = await generate({ events: 30_000, files: 3, root: work, sampleDir: SAMPLE });
    warehouseUrl = await createTestDatabase();
  });
  afterAll(async () => {
    await dropTestDatabase(warehouseUrl);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('computes each date in its own job, with two worker sets, and matches DuckDB', async () => {
    const config = testConfig({
      WAREHOUSE_URL: warehouseUrl,
      STREAMS_URL: dirUrl(path.dirname(data.streamFiles[0]!)),
      USERS_URL: fileUrl(data.usersCsv),
      SONGS_URL: fileUrl(data.songsCsv),
      LAKE_URL: dirUrl(path.join(work, 'lake')),
      CHUNK_BYTES: String(128 * 1024),
    });
    // Computed first: the run archives the stream files.
    const expected = await computeKpisWithDuckDB({ streamFiles: data.streamFiles, songsCsv: data.songsCsv });
    const contexts: ServiceContext[] = [0, 1].map((i) => createServiceContext(config, `replica-${i}`));
    const services: Service[] = (await Promise.all(contexts.map((ctx) => startServices(ctx, PIPELINE_WORKERS)))).flat();
    try {
      const { runId } = await startRun(config, contexts[0]!.queues, { trigger: 'test' });
      const report = await waitForReport(contexts[0]!, runId);
      expect(report.status).toBe('succeeded');
      expect(report.dates).toEqual(['2024-06-25', '2024-06-26', '2024-06-27', '2024-06-28', '2024-06-29']);

      const kpiQueue = contexts[0]!.queues.queues.kpi;
      for (const date of report.dates) expect(await kpiQueue.getJobState(jobIds.kpiDate(runId, date))).toBe('completed');
      // Progress counts the date jobs with their stage: the run's job and five dates.
      const progress = await readRunProgress(contexts[0]!.queues, runId);
      expect(progress.stages.kpi).toMatchObject({ total: 6, completed: 6 });
      expect(report.kpiRows.hourly).toBe(expected.hourly.length);
    } finally {
      await Promise.all(services.map((s) => s.close()));
      await Promise.all(contexts.map((c) => c.close()));
    }
    expectSameKpis(await readWarehouseKpis(warehouseUrl), expected);
  });
});
