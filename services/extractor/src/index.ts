import { extractJobSchema } from '@musicflow/contracts';
import { runStageWorker, type ServiceContext } from '@musicflow/flow';
import { createExtractProcessor } from './processor.ts';

export function startExtractor(ctx: ServiceContext) {
  return runStageWorker('extract', extractJobSchema, createExtractProcessor(ctx), ctx);
}
