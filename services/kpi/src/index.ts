import { kpiJobSchema } from '@musicflow/contracts';
import { runStageWorker, type ServiceContext } from '@musicflow/flow';
import { createKpiProcessor } from './processor.ts';

export function startKpi(ctx: ServiceContext) {
  return runStageWorker('kpi', kpiJobSchema, createKpiProcessor(ctx), ctx);
}
