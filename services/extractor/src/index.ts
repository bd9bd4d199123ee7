import { extractJobSchema } from '@musicflow/contracts';
import { defineStage, runStageWorker, type ServiceContext } from '@musicflow/flow';
import { createExtractProcessor } from './processor.ts';

export const extractStage = defineStage({ stage: 'extract', schema: extractJobSchema, createProcessor: createExtractProcessor });

export function startExtractor(ctx: ServiceContext) {
  return runStageWorker(extractStage, ctx);
}
