import { defineStage, runStageWorker, threadModuleBeside, type ServiceContext } from '@musicflow/flow';
import { createValidateProcessor } from './processor.ts';

export const validateStage = defineStage({ stage: 'validate', createProcessors: (ctx) => ({ validate: createValidateProcessor(ctx) }) });

export function startValidator(ctx: ServiceContext) {
  // Parsing a chunk is seconds of CPU: with WORKER_THREADS it runs on worker threads.
  return runStageWorker(validateStage, ctx, threadModuleBeside(import.meta.url));
}
