import { defineStage, runStageWorker, threadModuleBeside, type ServiceContext } from '@musicflow/flow';
import { createCommitProcessor } from './commit.ts';
import { createTransformProcessor } from './processor.ts';

/** The transform queue: a chunk's `transform`, and a run's lake `commit` of what its transforms staged. */
export const transformStage = defineStage({
  stage: 'transform',
  createProcessors: (ctx) => ({ transform: createTransformProcessor(ctx), commit: createCommitProcessor(ctx) }),
});

export function startTransformer(ctx: ServiceContext) {
  // Encoding Parquet is seconds of CPU: with WORKER_THREADS it runs on worker threads.
  return runStageWorker(transformStage, ctx, threadModuleBeside(import.meta.url));
}
