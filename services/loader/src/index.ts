import { loadJobSchema } from '@musicflow/contracts';
import { defineStage, runStageWorker, startAlertWorker, type Service, type ServiceContext } from '@musicflow/flow';
import { createLoadProcessor } from './processor.ts';

export const loadStage = defineStage({ stage: 'load', schema: loadJobSchema, createProcessor: createLoadProcessor });

/** The load worker, and the alert worker that delivers what the loader (and the freshness check) raise. */
export function startLoader(ctx: ServiceContext): Service {
  const loader = runStageWorker(loadStage, ctx);
  const alerts = startAlertWorker(ctx);
  return {
    ready: loader.ready,
    async close() {
      await Promise.all([loader.close(), alerts.close()]);
    },
  };
}
