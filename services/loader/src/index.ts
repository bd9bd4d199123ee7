import { loadJobSchema } from '@musicflow/contracts';
import { runStageWorker, type ServiceContext } from '@musicflow/flow';
import { createLoadProcessor } from './processor.ts';

export function startLoader(ctx: ServiceContext) {
  return runStageWorker('load', loadJobSchema, createLoadProcessor(ctx), ctx);
}
