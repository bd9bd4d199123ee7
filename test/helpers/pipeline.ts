import type { Config, Logger } from '@musicflow/config';
import type { RunReport, Sources } from '@musicflow/contracts';
import { createServiceContext, readRunProgress, startRun, type Service, type ServiceContext } from '@musicflow/flow';
import { PIPELINE_WORKERS, startServices } from '@musicflow/cli';
import { buildApp } from '@musicflow/service-api';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll } from 'vitest';
import { startReceiver, type Receiver } from '../alerts/webhook.ts';
import { deleteKeys, makeBucket, type Bucket } from '../api/fixtures.ts';
import { createTestDatabase, dropTestDatabase, testConfig } from './env.ts';

export interface TestPipeline {
  ctx: ServiceContext;
  services: Service[];
  /** Enqueues a run and waits for its report. */
  run(sources?: Partial<Sources>): Promise<RunReport>;
  close(): Promise<void>;
}

/** All five workers in this process against the test's Redis prefix, database and lake (logging to `logger` when given). */
export async function startPipeline(config: Config, logger?: Logger): Promise<TestPipeline> {
  const base = createServiceContext(config, 'test');
  const ctx = logger ? { ...base, logger } : base;
  const services = await startServices(ctx, PIPELINE_WORKERS);
  return {
    ctx,
    services,
    async run(sources) {
      const { runId } = await startRun(config, ctx.queues, { trigger: 'test', sources });
      return waitForReport(ctx, runId);
    },
    async close() {
      await Promise.all(services.map((s) => s.close()));
      await ctx.close();
    },
  };
}

export async function waitForReport(ctx: ServiceContext, runId: string, timeoutMs = 90_000): Promise<RunReport> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const progress = await readRunProgress(ctx.queues, runId);
    if (progress.state === 'completed' && progress.report) return progress.report;
    if (progress.state === 'failed') throw new Error(`run ${runId} failed: ${progress.error}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`run ${runId} did not finish within ${timeoutMs} ms`);
}

/** What `usePipelineWithApi` sets up: filled in before the file's tests run. */
export interface PipelineWithApi {
  db: string;
  bucket: Bucket;
  receiver: Receiver;
  pipeline: TestPipeline;
  app: FastifyInstance;
}

/**
 * Before the tests of the calling `describe`: a database of its own, a bucket
 * of `files` sample stream files of `rows` rows, an alert webhook receiver, the
 * five workers and the API over them; all torn down after.
 */
export function usePipelineWithApi(files: number, rows: number): PipelineWithApi {
  const setup = {} as PipelineWithApi;
  beforeAll(async () => {
    setup.db = await createTestDatabase();
    setup.bucket = await makeBucket(files, rows);
    setup.receiver = await startReceiver();
    setup.pipeline = await startPipeline(testConfig({ ...setup.bucket.env, WAREHOUSE_URL: setup.db, ALERT_WEBHOOK_URL: setup.receiver.url }));
    setup.app = await buildApp(setup.pipeline.ctx);
  });
  afterAll(async () => {
    await setup.app?.close();
    await setup.pipeline?.close();
    if (setup.pipeline) await deleteKeys(setup.pipeline.ctx.config.QUEUE_PREFIX);
    await setup.receiver?.close();
    if (setup.db) await dropTestDatabase(setup.db);
    await setup.bucket?.close();
  });
  return setup;
}
