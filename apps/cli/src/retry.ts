import type { Config } from '@musicflow/config';
import { runIdSchema } from '@musicflow/contracts';
import { restoreRecordedSources, retryRun, RetryRefusedError, type RetryScope } from '@musicflow/flow';
import { Warehouse } from '@musicflow/warehouse';
import { waitAndReport, withQueues } from './wait.ts';

const describeScope = (s: RetryScope) =>
  s.scope === 'sources'
    ? "over the run's sources"
    : s.scope === 'rejected-files'
      ? `over its ${s.files} rejected file(s)`
      : `over the date(s) whose load failed: ${s.dates.join(', ')}`;

/** `musicflow retry`: a new run after a failed, partial or cancelled one, over its sources or only what failed. */
export async function retry(config: Config, runId: string, values: { 'only-failed'?: boolean; wait?: boolean }): Promise<number> {
  const id = runIdSchema.safeParse(runId);
  if (!id.success) throw new Error(`retry: ${runId}: ${id.error.issues[0]!.message}`);
  const db = await Warehouse.connect(config.WAREHOUSE_URL, config.WAREHOUSE_LOAD);
  try {
    const report = await db.getRun(id.data);
    if (!report) throw new Error(`retry: run ${id.data} is not among the finished runs in analytics.etl_runs`);
    return await withQueues(config, async (queues) => {
      const run = { ...report, sources: restoreRecordedSources(config, report.sources, id.data) };
      const started = await retryRun(config, queues, db, run, values['only-failed'] ?? false);
      console.log(started.created ? `run ${started.runId} enqueued ${describeScope(started)}` : `run ${started.runId} over the same sources is already active`);
      return values.wait ? waitAndReport(queues, started.runId, config.JOB_LOCK_MS) : 0;
    });
  } catch (err) {
    throw err instanceof RetryRefusedError ? new Error(`retry: ${err.message}`) : err;
  } finally {
    await db.close();
  }
}
