import { checkWarehouseAtStart, defineStage, runStageWorker, startAlertWorker, type Service, type ServiceContext } from '@musicflow/flow';
import { createLoadProcessor } from './processor.ts';
import { createBackfillProcessor } from './backfill.ts';
import { createArchiveProcessor } from './archive.ts';

export { failedReport } from './processor.ts';

export const loadStage = defineStage({
  stage: 'load',
  createProcessors: (ctx) => ({ load: createLoadProcessor(ctx), archive: createArchiveProcessor(ctx), backfill: createBackfillProcessor(ctx) }),
});

/** The load worker, and the alert worker that delivers what the loader (and the freshness check) raise. */
export async function startLoader(ctx: ServiceContext): Promise<Service> {
  await checkWarehouseAtStart(ctx);
  const loader = runStageWorker(loadStage, ctx);
  const alerts = startAlertWorker(ctx);
  return {
    ready: loader.ready,
    async close() {
      await Promise.all([loader.close(), alerts.close()]);
    },
  };
}
