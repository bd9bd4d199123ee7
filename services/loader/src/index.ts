import { defineStage, runStageWorker, type ServiceContext } from '@musicflow/flow';
import { createLoadProcessor } from './processor.ts';

export const loadStage = defineStage({ stage: 'load', createProcessors: (ctx) => ({ load: createLoadProcessor(ctx) }) });

export function startLoader(ctx: ServiceContext) {
  return runStageWorker(loadStage, ctx);
}
