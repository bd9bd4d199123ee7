/**
 * Crash containment. A job that kills its worker process (out of memory, a
 * native crash, SIGKILL) keeps its lock until the lock expires; a live
 * worker's stalled checker then hands it back (BullMQ counts it in the job's
 * `stalledCounter`) and the next worker runs it, and dies, and so on. Every
 * attempt's worker is recorded here; once a job has been handed back
 * JOB_MAX_WORKER_DEATHS times, its next attempt fails it without running it,
 * unrecoverably, with a reason that names the job and what happened to its
 * workers. Its run then ends `failed` like any other failed step, and the
 * workers stay up.
 */
import { UnrecoverableError, type Job } from 'bullmq';
import { QUEUES, type Stage } from '@musicflow/contracts';
import { plural, readQueueWorkers } from './health.ts';
import type { PipelineQueues } from './queues.ts';

/** As long as failed jobs are kept (`removeOnFail` in queues.ts): the record explains the failure while it is shown. */
const HOLDERS_TTL_S = 14 * 24 * 3600;

export const jobHoldersKey = (prefix: string, jobId: string) => `${prefix}:job-holders:${jobId}`;

/**
 * Records `worker` (`host:pid`) as the job's worker for this attempt; throws
 * an UnrecoverableError when the job's workers were lost `maxDeaths` times.
 */
export async function checkWorkerDeaths(queues: PipelineQueues, stage: Stage, job: Job, worker: string, maxDeaths: number): Promise<void> {
  const key = jobHoldersKey(queues.prefix, job.id!);
  const [[, length]] = (await queues.connection.multi().rpush(key, worker).expire(key, HOLDERS_TTL_S).exec()) as [[unknown, number]];
  const deaths = job.stalledCounter;
  if (deaths < maxDeaths) return;
  // The workers of the attempts that stalled: the ones before this attempt's.
  const lost = await queues.connection.lrange(key, Math.max(0, length - 1 - deaths), length - 2);
  const live = new Set(await readQueueWorkers(queues.queues[stage]));
  // A worker killed between taking the job and recording itself is missing: the list may be shorter than `deaths`.
  const named = [...new Set(lost)];
  const gone = named.filter((w) => !live.has(w));
  const starved = named.filter((w) => live.has(w));
  const what = [
    gone.length ? `${gone.join(', ')} gone: out of memory, a native crash or a kill, their logs say which` : '',
    starved.length ? `${starved.join(', ')} still connected: event loop blocked past the job's lock` : '',
  ]
    .filter(Boolean)
    .join('; ');
  const lostHow = starved.length ? `its workers lost it ${plural(deaths, 'time')}` : `its worker process died ${plural(deaths, 'time')}`;
  throw new UnrecoverableError(
    `${job.name} ${job.id}: ${lostHow} while running it (${what || 'workers not recorded'}); ` +
      `failed rather than handed to the next ${QUEUES[stage]} worker (JOB_MAX_WORKER_DEATHS=${maxDeaths})`,
  );
}
