import { workerData } from 'node:worker_threads';
import type { Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import type { Stage } from '@musicflow/contracts';
import { createServiceContext } from './context.ts';
import { handleStageJob, type StageDefinition, type StageJobGuard, type StageProcessors, type ThreadData } from './worker.ts';

/**
 * The default export of a stage's thread module: runs the stage's jobs inside
 * a BullMQ worker thread, with a service context of its own (store, queues,
 * connections) built on the first job from the parent's config.
 */
export function threadProcessor<S extends Stage>(definition: StageDefinition<S>) {
  let stage: { processors: StageProcessors<S>; log: Logger; guard: StageJobGuard } | undefined;
  return (job: Job, token?: string): Promise<unknown> => {
    if (!stage) {
      const ctx = createServiceContext((workerData as ThreadData).config, `${definition.stage}-thread`);
      const guard = { queues: ctx.queues, maxWorkerDeaths: ctx.config.JOB_MAX_WORKER_DEATHS };
      stage = { processors: definition.createProcessors(ctx), log: ctx.logger.child({ stage: definition.stage }), guard };
    }
    return handleStageJob(definition, stage.processors, stage.log, job, token, stage.guard);
  };
}
