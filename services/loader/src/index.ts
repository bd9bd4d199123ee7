import { checkWarehouseAtStart, defineStage, runStageWorker, type ServiceContext } from '@musicflow/flow';
import { createLoadProcessor } from './processor.ts';

export const loadStage = defineStage({ stage: 'load', createProcessors: (ctx) => ({ load: createLoadProcessor(ctx) }) });

export async function startLoader(ctx: ServiceContext) {
  await checkWarehouseAtStart(ctx);
  return runStageWorker(loadStage, ctx);
}
