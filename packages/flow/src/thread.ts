import { workerData } from 'node:worker_threads';
import type { Job } from 'bullmq';
import type { z } from 'zod';
import { createServiceContext, type ServiceContext } from './context.ts';
import { handleStageJob, type StageDefinition, type StageProcessor, type ThreadData } from './worker.ts';

/**
 * The default export of a stage's thread module: runs the stage's jobs inside
 * a BullMQ worker thread, with a service context of its own (store, queues,
 * connections) built on the first job from the parent's config.
 */
export function threadProcessor<S extends z.ZodType>(definition: StageDefinition<S>) {
  let ctx: ServiceContext | undefined;
  let processor: StageProcessor<z.output<S>> | undefined;
  return (job: Job, token?: string): Promise<unknown> => {
    if (!ctx) {
      ctx = createServiceContext((workerData as ThreadData).config, `${definition.stage}-thread`);
      processor = definition.createProcessor(ctx);
    }
    return handleStageJob(definition, processor!, ctx.logger.child({ stage: definition.stage }), job, token);
  };
}
