import { WaitingChildrenError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import { jobIds, type BackfillJob } from '@musicflow/contracts';
import { isRunCancelled, startRecompute, type ServiceContext } from '@musicflow/flow';

/**
 * A backfill's driver (the step-job pattern): it starts the recompute runs
 * of the next `concurrency` dates as its children and waits for them, until
 * every date has run or the backfill is cancelled. A date that fails does not
 * stop the others; the backfill reports it.
 */
export function createBackfillProcessor({ config, queues }: ServiceContext) {
  return async (job: Job, data: BackfillJob, log: Logger, token: string | undefined) => {
    const { backfillId, dates, spec } = data;
    const bf = log.child({ backfillId });
    let { started } = data;
    while (started < dates.length && !(await isRunCancelled(queues, backfillId))) {
      const batch = dates.slice(started, started + spec.concurrency);
      // Runs first, then the step: a retry after a crash in between adds the same runs again (fixed ids), harmlessly.
      for (const listenDate of batch) {
        const runId = jobIds.backfillRun(backfillId, listenDate);
        await startRecompute(config, queues, { from: listenDate, to: listenDate, dates: [listenDate], reEnrich: false }, 'backfill', {
          runId,
          parent: { id: job.id!, queue: queues.queueKey('load') },
        });
      }
      started += batch.length;
      await job.updateData({ ...data, started } satisfies BackfillJob);
      await job.updateProgress({ percent: Math.round((100 * started) / dates.length), rows: 0 });
      bf.info({ dates: batch, started, of: dates.length }, 'backfill: dates started');
      if (await job.moveToWaitingChildren(token!)) throw new WaitingChildrenError();
    }
    bf.info({ started, of: dates.length }, started < dates.length ? 'backfill cancelled' : 'backfill done');
    return { backfillId, started, dates: dates.length };
  };
}
