import { defineStage, runStageWorker, threadModuleBeside, type ServiceContext } from '@musicflow/flow';
import { createTransformProcessor } from './processor.ts';

export const transformStage = defineStage({ stage: 'transform', createProcessors: (ctx) => ({ transform: createTransformProcessor(ctx) }) });

export function startTransformer(ctx: ServiceContext) {
  // Encoding Parquet is seconds of CPU: with WORKER_THREADS it runs on worker threads.
  return runStageWorker(transformStage, ctx, threadModuleBeside(import.meta.url));
}
