import { defineStage, runStageWorker, threadModuleBeside, type ServiceContext } from '@musicflow/flow';
import { createKpiProcessors } from './processor.ts';

export const kpiStage = defineStage({ stage: 'kpi', createProcessors: createKpiProcessors });

export function startKpi(ctx: ServiceContext) {
  // Aggregating a date is seconds of CPU: with WORKER_THREADS it runs on worker threads.
  return runStageWorker(kpiStage, ctx, threadModuleBeside(import.meta.url));
}
