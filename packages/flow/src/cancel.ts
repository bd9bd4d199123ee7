import { UnrecoverableError } from 'bullmq';
import { isJobKind, jobIds, JOB_KINDS } from '@musicflow/contracts';
import type { PipelineQueues } from './queues.ts';
import { readRunJobs } from './progress.ts';

/**
 * A run's fate while it is in flight, one Redis key per run: `cancelled` once
 * cancelled, `committing` once a step started changing the lake or the
 * warehouse. Whichever is set first wins (SET NX), so a cancelled run never
 * commits and a committing run is never half-cancelled.
 */
const controlKey = (prefix: string, runId: string) => `${prefix}:run-control:${runId}`;
/** Longer than any run lasts: the key outlives the run's jobs only to answer a late worker. */
const CONTROL_TTL_S = 14 * 24 * 3600;

const CANCELLED = 'cancelled';
const COMMITTING = 'committing';

export const isRunCancelled = async (queues: PipelineQueues, runId: string): Promise<boolean> =>
  (await queues.connection.get(controlKey(queues.prefix, runId))) === CANCELLED;

/** The error a job of a cancelled run ends with: never retried, it lets the loader record the run `cancelled`. */
export const runCancelledError = (runId: string) => new UnrecoverableError(`run ${runId} was cancelled`);

/** Throws at a step boundary of a cancelled run's job. */
export async function throwIfCancelled(queues: PipelineQueues, runId: string): Promise<void> {
  if (await isRunCancelled(queues, runId)) throw runCancelledError(runId);
}

/** How often, at most, a long job reads its run's cancel flag between blocks of its work. */
export const CANCEL_CHECK_MS = 1_000;

/**
 * A long job's look at its run's cancel flag between blocks (rows, row
 * groups, segments): a clock read, and a Redis GET at most every
 * CANCEL_CHECK_MS. A cancelled run's job throws `runCancelledError`; its
 * processor's writes are aborted on the way out, and the loader deletes the
 * run's temporaries.
 */
export class CancelWatch {
  private nextAt = Date.now() + CANCEL_CHECK_MS;

  constructor(
    private readonly queues: PipelineQueues,
    private readonly runId: string,
  ) {}

  /** Whether `check` would read the flag now: a clock read, for callers that step thousands of times a second. */
  due(): boolean {
    return Date.now() >= this.nextAt;
  }

  async check(): Promise<void> {
    const now = Date.now();
    if (now < this.nextAt) return;
    this.nextAt = now + CANCEL_CHECK_MS;
    await throwIfCancelled(this.queues, this.runId);
  }
}

/**
 * Called before the first change to the lake or the warehouse: true when the
 * run may commit (claimed now or by an earlier attempt), false when it was
 * cancelled first.
 */
export async function claimRunCommit(queues: PipelineQueues, runId: string): Promise<boolean> {
  const key = controlKey(queues.prefix, runId);
  if (await queues.connection.set(key, COMMITTING, 'EX', CONTROL_TTL_S, 'NX')) return true;
  return (await queues.connection.get(key)) === COMMITTING;
}

/** Sets the cancelled flag of a run (or a backfill); false when the run claimed its commit first. */
export async function markCancelled(queues: PipelineQueues, id: string): Promise<boolean> {
  const key = controlKey(queues.prefix, id);
  return !!(await queues.connection.set(key, CANCELLED, 'EX', CONTROL_TTL_S, 'NX')) || (await queues.connection.get(key)) === CANCELLED;
}

export type CancelOutcome =
  /** The flag is set and waiting jobs removed; the loader records the run `cancelled` once active jobs stop. */
  | { outcome: 'cancelled'; removedJobs: number }
  /** Too late: the run already changed the lake or the warehouse, and ends as it would have. */
  | { outcome: 'committing' }
  | { outcome: 'finished' }
  | { outcome: 'unknown' };

const NOT_STARTED = new Set(['waiting', 'delayed', 'prioritized']);

/**
 * Cancels a queued or running run: sets its flag (processors check it at
 * every job and step), then removes its jobs that no worker holds, so their
 * parents go on at once; the loader still runs last, deletes the run's
 * temporaries and records the run `cancelled`. Cancelling twice is harmless.
 */
export async function cancelRun(queues: PipelineQueues, runId: string): Promise<CancelOutcome> {
  const state = await queues.queues.load.getJobState(jobIds.load(runId));
  if (state === 'unknown') return { outcome: 'unknown' };
  if (state === 'completed' || state === 'failed') return { outcome: 'finished' };
  if (!(await markCancelled(queues, runId))) return { outcome: 'committing' };
  let removedJobs = 0;
  for (const job of await readRunJobs(queues, runId)) {
    if (job.name === 'load' || job.finishedOn || !isJobKind(job.name)) continue;
    const queue = queues.queues[JOB_KINDS[job.name].stage];
    if (!NOT_STARTED.has(await queue.getJobState(job.id!))) continue;
    // 0 when a worker took the job meanwhile (it is locked): it stops at its next step instead.
    removedJobs += await queue.remove(job.id!, { removeChildren: false });
  }
  return { outcome: 'cancelled', removedJobs };
}
