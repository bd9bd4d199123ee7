/**
 * A run's cost in Redis grows with its chunks, not its files (issue 28): per-file
 * outcomes live in the lake, so the same events in N and in 4N small files
 * leave about the same bytes in Redis, every job's data and result stay
 * small, and every file's outcome is still in the report and
 * analytics.etl_run_files. Retention removes what its settings say:
 * finished jobs past JOBS_KEEP_COMPLETED_COUNT, per-file rows of runs older
 * than RUN_FILES_KEEP_DAYS.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '@musicflow/config';
import { readRunJobs } from '@musicflow/flow';
import type { RunReport } from '@musicflow/contracts';
import { createTestDatabase, dirUrl, dropTestDatabase, fileUrl, SAMPLE, tempDir, testConfig } from '../helpers/env.ts';
import { startPipeline } from '../helpers/pipeline.ts';

const FEW = 300;
const MANY = 4 * FEW;
/** The largest job data or return value of any job of a run, in bytes of JSON. */
const JOB_JSON_BYTES = 4096;

describe("a run's Redis memory", () => {
  let work: string;
  let warehouseUrl: string;
  let header: string;
  let rows: string[];

  /** A folder of streams1.csv's rows cut into `files` files. */
  async function folderOf(files: number): Promise<string> {
    const dir = path.join(work, `streams-${files}`);
    await fs.mkdir(dir);
    const per = Math.ceil(rows.length / files);
    for (let f = 0; f < files; f++) {
      await fs.writeFile(path.join(dir, `part-${String(f).padStart(5, '0')}.csv`), `${header}\n${rows.slice(f * per, (f + 1) * per).join('\n')}\n`);
    }
    return dir;
  }

  const configFor = (streams: string, overrides: Record<string, string> = {}) =>
    testConfig({
      WAREHOUSE_URL: warehouseUrl,
      STREAMS_URL: dirUrl(streams),
      USERS_URL: fileUrl(path.join(SAMPLE, 'users.csv')),
      SONGS_URL: fileUrl(path.join(SAMPLE, 'songs.csv')),
      LAKE_URL: dirUrl(path.join(work, 'lake')),
      // streams1.csv (553 kB) in four chunks however many files it is cut into.
      CHUNK_BYTES: '140000',
      ...overrides,
    });

  /** Runs the pipeline once over `config`'s sources: the report, the bytes of every Redis key of its prefix, its jobs' largest JSON. */
  async function measuredRun(config: Config): Promise<{ report: RunReport; redisBytes: number; chunks: number; largestJobJson: number }> {
    const pipeline = await startPipeline(config);
    try {
      const report = await pipeline.run();
      const redis = pipeline.ctx.queues.connection;
      let redisBytes = 0;
      for (const key of await redis.keys(`${config.QUEUE_PREFIX}:*`)) redisBytes += Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
      const jobs = await readRunJobs(pipeline.ctx.queues, report.runId);
      const largestJobJson = Math.max(...jobs.map((j) => Math.max(JSON.stringify(j.data).length, JSON.stringify(j.returnvalue ?? null).length)));
      return { report, redisBytes, chunks: jobs.filter((j) => j.name === 'validate').length, largestJobJson };
    } finally {
      await pipeline.close();
    }
  }

  const runFiles = async (runId: string) => {
    const client = new pg.Client({ connectionString: warehouseUrl });
    await client.connect();
    try {
      const { rows: counts } = await client.query(`SELECT status, COUNT(*)::int AS n FROM analytics.etl_run_files WHERE run_id = $1 GROUP BY status`, [runId]);
      return Object.fromEntries(counts.map((r) => [r.status, r.n]));
    } finally {
      await client.end();
    }
  };

  beforeAll(async () => {
    work = await tempDir();
    [header, ...rows] = (await fs.readFile(path.join(SAMPLE, 'streams', 'streams1.csv'), 'utf8')).trimEnd().split('\n') as [string, ...string[]];
    warehouseUrl = await createTestDatabase();
  });
  afterAll(async () => {
    if (warehouseUrl) await dropTestDatabase(warehouseUrl);
    await fs.rm(work, { recursive: true, force: true });
  });

  it('grows with chunks, not files; every outcome is kept; retention removes what it says', async () => {
    const few = await measuredRun(configFor(await folderOf(FEW)));
    // A file with no header among many: rejected, named in the report and in etl_run_files.
    const manyDir = await folderOf(MANY);
    await fs.writeFile(path.join(manyDir, 'zz-empty.csv'), '');
    // The first run is now 100 days old: the next load deletes its per-file rows (RUN_FILES_KEEP_DAYS=90).
    const client = new pg.Client({ connectionString: warehouseUrl });
    await client.connect();
    await client.query(`UPDATE analytics.etl_runs SET started_at = started_at - INTERVAL '100 days' WHERE run_id = $1`, [few.report.runId]);
    await client.end();
    expect(await runFiles(few.report.runId)).toEqual({ loaded: FEW });
    const manyConfig = configFor(manyDir, { RUN_FILES_KEEP_DAYS: '90' });
    const many = await measuredRun(manyConfig);

    for (const run of [few, many]) {
      expect(run.report.rows).toMatchObject({ read: rows.length, valid: rows.length });
      expect(run.largestJobJson).toBeLessThan(JOB_JSON_BYTES);
    }
    expect(many.report.files).toMatchObject({ total: MANY + 1, loaded: MANY, rejected: 1 });
    expect(many.report.files.firstRejected).toEqual([{ file: expect.stringContaining('zz-empty.csv'), reasons: ['empty file: a header row is required'] }]);
    expect(await runFiles(many.report.runId)).toEqual({ loaded: MANY, rejected: 1 });
    expect(await runFiles(few.report.runId)).toEqual({});

    // Four times the files in as many chunks: Redis holds about as much (4x when outcomes were job results).
    expect(many.chunks).toBe(few.chunks);
    expect(many.redisBytes).toBeLessThan(1.3 * few.redisBytes);

    // A later run with JOBS_KEEP_COMPLETED_COUNT=1 on the same queues trims every queue it finishes jobs on to one completed job.
    const pipeline = await startPipeline(configFor(await folderOf(3), { JOBS_KEEP_COMPLETED_COUNT: '1', QUEUE_PREFIX: manyConfig.QUEUE_PREFIX }));
    try {
      const before = await pipeline.ctx.queues.queues.validate.getCompletedCount();
      expect(before).toBe(many.chunks);
      await pipeline.run();
      for (const queue of Object.values(pipeline.ctx.queues.queues)) expect(await queue.getCompletedCount()).toBeLessThanOrEqual(1);
    } finally {
      await pipeline.close();
    }
  });
});
