import { defineStage, runStageWorker, type ServiceContext } from '@musicflow/flow';
import { createExtractProcessors } from './processor.ts';

export const extractStage = defineStage({ stage: 'extract', createProcessors: createExtractProcessors });

export function startExtractor(ctx: ServiceContext) {
  return runStageWorker(extractStage, ctx);
}
