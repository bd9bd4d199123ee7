/**
 * The things musicflow reads from BullMQ that its public API does not offer, in one place.
 * test/integration/bullmq-internals.test.ts checks them against the BullMQ installed, so an
 * upgrade that changes them fails the tests instead of silently changing behaviour.
 */
import type { Job, Worker } from 'bullmq';

/**
 * When a job scheduler's job was due, stable across retries (its delay and timestamp are not).
 * BullMQ names scheduler jobs `repeat:<schedulerId>:<millis>`; any other job: its timestamp plus delay.
 */
export function schedulerFiringTime(job: Job): Date {
  const millis = Number(String(job.id).split(':').pop());
  return new Date(Number.isFinite(millis) && millis > 0 ? millis : job.timestamp + (job.delay ?? 0));
}

interface ChildPool {
  retain(file: string): Promise<unknown>;
  release(child: unknown): void;
}

/**
 * Starts `count` sandbox threads of a worker now and hands them back to its pool, so the first
 * jobs do not wait for their module loading. BullMQ keeps the pool private (`childPool`).
 */
export async function startSandboxThreads(worker: Worker, file: string, count: number): Promise<void> {
  const pool = (worker as unknown as { childPool?: Partial<ChildPool> }).childPool;
  if (typeof pool?.retain !== 'function' || typeof pool.release !== 'function') {
    throw new Error(`this BullMQ's Worker has no childPool.retain/release any more: update packages/flow/src/bullmq-internals.ts`);
  }
  const threads = await Promise.all(Array.from({ length: count }, () => pool.retain!(file)));
  for (const thread of threads) pool.release!(thread);
}

/**
 * The Redis key (`prefix:queue:id`) of the child named by the reason BullMQ gives a parent it
 * fails with its child (`failParentOnFailure`: "child <key> failed"); undefined for other reasons.
 * Checked through ignoredFailures in test/integration/job-kinds.test.ts.
 */
export function failedChildKey(reason: string): string | undefined {
  return /^child (\S+) failed$/.exec(reason)?.[1];
}
