import { kpiJobSchema } from '@musicflow/contracts';
import { defineStage, runStageWorker, threadModuleBeside, type ServiceContext } from '@musicflow/flow';
import { createKpiProcessor } from './processor.ts';

export const kpiStage = defineStage({ stage: 'kpi', schema: kpiJobSchema, createProcessor: createKpiProcessor });

export function startKpi(ctx: ServiceContext) {
  // Aggregating a date is seconds of CPU: with WORKER_THREADS it runs on worker threads.
  return runStageWorker(kpiStage, ctx, threadModuleBeside(import.meta.url));
}
