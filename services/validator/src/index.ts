import { chunkJobSchema } from '@musicflow/contracts';
import { runStageWorker, type ServiceContext } from '@musicflow/flow';
import { createValidateProcessor } from './processor.ts';

export function startValidator(ctx: ServiceContext) {
  return runStageWorker('validate', chunkJobSchema, createValidateProcessor(ctx), ctx);
}
