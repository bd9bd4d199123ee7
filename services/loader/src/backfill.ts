import { DelayedError, WaitingChildrenError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import { jobIds, type BackfillJob } from '@musicflow/contracts';
import { backfillRunsInFlight, BACKFILL_RECHECK_MS, isRunCancelled, startRecompute, updateDataWhileLocked, type ServiceContext } from '@musicflow/flow';

/**
 * A backfill's driver (the step-job pattern): a pool of at most `concurrency`
 * date runs, its children. It starts dates while there is room, then waits
 * (delayed, so it holds no loader slot the runs need): the loader wakes it
 * when one of its runs ends, so the next date starts then, and a recheck
 * after BACKFILL_RECHECK_MS covers a wake-up that came while it was still
 * active. Once every date is started, or the backfill cancelled, it waits
 * for the runs in flight. A date that fails does not stop the others; the
 * backfill reports it.
 */
export function createBackfillProcessor({ config, queues }: ServiceContext) {
  return async (job: Job, data: BackfillJob, log: Logger, token: string | undefined) => {
    const { backfillId, dates, spec } = data;
    const bf = log.child({ backfillId });
    let { started } = data;
    const runIds = () => dates.slice(0, started).map((listenDate) => jobIds.backfillRun(backfillId, listenDate));
    for (;;) {
      const inFlight = await backfillRunsInFlight(queues, runIds());
      if (started >= dates.length || (await isRunCancelled(queues, backfillId))) {
        if (inFlight > 0 && (await job.moveToWaitingChildren(token!))) throw new WaitingChildrenError();
        bf.info({ started, of: dates.length }, started < dates.length ? 'backfill cancelled' : 'backfill done');
        return { backfillId, started, dates: dates.length };
      }
      const next = dates.slice(started, started + spec.concurrency - inFlight);
      if (!next.length) {
        await job.moveToDelayed(Date.now() + BACKFILL_RECHECK_MS, token);
        throw new DelayedError();
      }
      // Runs first, then the step: a retry after a crash in between adds the same runs again (fixed ids), harmlessly.
      for (const listenDate of next) {
        const runId = jobIds.backfillRun(backfillId, listenDate);
        await startRecompute(config, queues, { from: listenDate, to: listenDate, dates: [listenDate], reEnrich: false }, 'backfill', {
          runId,
          parent: { id: job.id!, queue: queues.queueKey('load') },
        });
      }
      started += next.length;
      await updateDataWhileLocked(queues.connection, queues.prefix, job, token, { ...data, started } satisfies BackfillJob);
      await job.updateProgress({ percent: Math.round((100 * started) / dates.length), rows: 0 });
      bf.info({ dates: next, started, of: dates.length, inFlight: inFlight + next.length }, 'backfill: dates started');
    }
  };
}
