import { chunkJobSchema } from '@musicflow/contracts';
import { runStageWorker, type ServiceContext } from '@musicflow/flow';
import { createTransformProcessor } from './processor.ts';

export function startTransformer(ctx: ServiceContext) {
  return runStageWorker('transform', chunkJobSchema, createTransformProcessor(ctx), ctx);
}
