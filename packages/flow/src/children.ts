import type { Job } from 'bullmq';
import type { Config } from '@musicflow/config';
import { JOB_KINDS, type JobData, type JobKind, type Stage } from '@musicflow/contracts';
import { jobOptions, type PipelineQueues } from './queues.ts';

export interface ChildJob<K extends JobKind> {
  id: string;
  data: JobData<K>;
}

/**
 * Adds jobs of one kind as children of `parent` (BullMQ's "add children at
 * run time" pattern). Their ids are fixed, so a step retried after a crash
 * adds nothing twice. `onFailure`: `fail` fails the parent with the child;
 * `ignore` lets the parent run and find the failure among its ignored ones.
 */
export async function addChildJobs<K extends JobKind>(
  config: Config,
  queues: PipelineQueues,
  parent: { id: string; stage: Stage },
  kind: K,
  jobs: ChildJob<K>[],
  onFailure: 'fail' | 'ignore',
): Promise<void> {
  if (!jobs.length) return;
  const opts = jobOptions(config);
  await queues.queues[JOB_KINDS[kind].stage].addBulk(
    jobs.map((job) => ({
      name: kind,
      data: job.data,
      opts: {
        ...opts,
        jobId: job.id,
        parent: { id: parent.id, queue: queues.queueKey(parent.stage) },
        ...(onFailure === 'fail' ? { failParentOnFailure: true } : { ignoreDependencyOnFailure: true }),
      },
    })),
  );
}

/** The parent's job id and stage, as `addChildJobs` wants it. */
export const parentOf = (job: Job, stage: Stage) => ({ id: job.id!, stage });

/**
 * The children that failed after their retries without failing `job`
 * (`ignoreDependencyOnFailure`), by job id. BullMQ keys them `prefix:queue:id`;
 * job ids never hold `:`, so the id is the last field (test/integration/job-kinds.test.ts
 * fails if BullMQ changes that).
 */
export async function ignoredFailures(job: Job): Promise<{ jobId: string; reason: string }[]> {
  return Object.entries(await job.getIgnoredChildrenFailures()).map(([key, reason]) => ({ jobId: key.slice(key.lastIndexOf(':') + 1), reason }));
}
