/**
 * A job attempt can outlive its lock. A host cut off from Redis for longer
 * than the lock (30 s) keeps working on the job it holds while a live worker
 * takes the job over; when the host comes back, the late attempt finishes its
 * writes and offers a result that BullMQ refuses. Two things make that safe:
 * the late attempt checks its lock before it calls itself done (and says, in
 * its log, that its result was refused), and every attempt, after its last
 * write, deletes the run's temporaries if the run has ended. The loader marks
 * the run ended before it deletes them, so either the loader's listing sees a
 * late write or the late attempt sees the mark: no object outlives the run.
 */
import type { Job } from 'bullmq';
import type { RedisClient } from './redis.ts';
import type { ObjectStore } from '@musicflow/storage';

/** How long an ended run's mark is kept: longer than any attempt can be cut off (finished jobs are kept a week). */
const RUN_ENDED_TTL_S = 14 * 24 * 3600;

/** Under the queue prefix (one hash slot with the queues on a cluster); its value is the run's temporaries' folder. */
const runEndedKey = (prefix: string, runId: string) => `${prefix}:run-ended:${runId}`;

/** Marks a run ended; call before deleting its temporaries (`tempUrl`). */
export async function markRunEnded(redis: RedisClient, prefix: string, runId: string, tempUrl: string): Promise<void> {
  await redis.set(runEndedKey(prefix, runId), tempUrl, 'EX', RUN_ENDED_TTL_S);
}

/** Which of the runs the loader has marked ended, in order. */
export async function runsEnded(redis: RedisClient, prefix: string, runIds: readonly string[]): Promise<boolean[]> {
  if (!runIds.length) return [];
  return (await redis.mget(...runIds.map((runId) => runEndedKey(prefix, runId)))).map((value) => value !== null);
}

/** After an attempt's last write: deletes the run's temporaries again when the run has ended. True when it did. */
export async function sweepEndedRun(redis: RedisClient, prefix: string, store: ObjectStore, runId: string): Promise<boolean> {
  const tempUrl = await redis.get(runEndedKey(prefix, runId));
  if (!tempUrl) return false;
  await store.deleteFolder(tempUrl);
  return true;
}

/** True while this attempt (`token`) holds the job's lock; a job run without a token (no lock) always does. */
export async function holdsJobLock(redis: RedisClient, prefix: string, queue: string, job: Job, token: string | undefined): Promise<boolean> {
  if (!token) return true;
  return (await redis.get(`${prefix}:${queue}:${job.id}:lock`)) === token;
}

/** Sets a job's data only while the lock holds `token`; 0 when it does not, -1 when the job is gone. */
const UPDATE_DATA_IF_LOCKED = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if redis.call('EXISTS', KEYS[2]) == 0 then return -1 end
redis.call('HSET', KEYS[2], 'data', ARGV[2])
return 1`;

/**
 * `job.updateData` that only this attempt's lock lets through (one script: no
 * gap between the check and the write), so a late attempt never writes its
 * step into a job another attempt took over or finished; it throws
 * LockLostError instead. A job run without a token (no lock) always may.
 */
export async function updateDataWhileLocked(redis: RedisClient, prefix: string, job: Job, token: string | undefined, data: unknown): Promise<void> {
  if (!token) return job.updateData(data);
  const key = `${prefix}:${job.queueName}:${job.id}`;
  const written = Number(await redis.eval(UPDATE_DATA_IF_LOCKED, 2, `${key}:lock`, key, token, JSON.stringify(data)));
  if (written !== 1) throw new LockLostError(`job ${job.id}: this attempt lost the job's lock; its step data is refused`);
  job.data = data;
}

/** What a refused late attempt throws: BullMQ refuses it too, as it refuses any result without the lock. */
export class LockLostError extends Error {
  override name = 'LockLostError';
}

/** BullMQ's own words when it refuses a finish or a move without the lock (`Missing lock for job <id>. <command>`). */
export const isLockLost = (err: Error) =>
  err.name === 'LockLostError' || /^(Missing lock for job|could not renew lock for job|Lock mismatch for job)/.test(err.message);
