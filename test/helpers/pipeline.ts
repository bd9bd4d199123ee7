import type { Config, Logger } from '@musicflow/config';
import type { RunReport, Sources } from '@musicflow/contracts';
import { createServiceContext, readRunProgress, startRun, type Service, type ServiceContext } from '@musicflow/flow';
import { PIPELINE_WORKERS, startServices } from '@musicflow/cli';

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
