import { loadJobSchema } from '@musicflow/contracts';
import { defineStage, runStageWorker, type ServiceContext } from '@musicflow/flow';
import { createLoadProcessor } from './processor.ts';

export const loadStage = defineStage({ stage: 'load', schema: loadJobSchema, createProcessor: createLoadProcessor });

export function startLoader(ctx: ServiceContext) {
  return runStageWorker(loadStage, ctx);
}
