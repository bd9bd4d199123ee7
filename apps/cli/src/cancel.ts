import type { Config } from '@musicflow/config';
import { runIdSchema } from '@musicflow/contracts';
import { cancelRun } from '@musicflow/flow';
import { waitAndReport, withQueues } from './wait.ts';

const REFUSED = {
  unknown: 'is not queued or running (no such run in Redis)',
  finished: 'has finished: only a queued or running run can be cancelled',
  committing: 'is already publishing to the lake or loading the warehouse: it can no longer be cancelled',
} as const;

/** `musicflow cancel`: 0 once cancelled (3 with --wait, the exit code of a cancelled run), 1 when it could not be. */
export async function cancel(config: Config, runId: string, values: { wait?: boolean }): Promise<number> {
  const id = runIdSchema.safeParse(runId);
  if (!id.success) throw new Error(`cancel: ${runId}: ${id.error.issues[0]!.message}`);
  return withQueues(config, async (queues) => {
    const cancelled = await cancelRun(queues, id.data);
    if (cancelled.outcome !== 'cancelled') {
      console.error(`run ${id.data} ${REFUSED[cancelled.outcome]}`);
      return 1;
    }
    console.log(`run ${id.data} cancelled: ${cancelled.removedJobs} waiting job(s) removed, active ones stop at their next step`);
    return values.wait ? waitAndReport(queues, id.data, config.JOB_LOCK_MS) : 0;
  });
}
