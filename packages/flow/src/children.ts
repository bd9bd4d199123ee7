import type { Job } from 'bullmq';
import type { Config } from '@musicflow/config';
import { JOB_KINDS, STAGES, type JobData, type JobKind, type Stage } from '@musicflow/contracts';
import { failedChildKey } from './bullmq-internals.ts';
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
 * fails if BullMQ changes that). With `queues`, a child failed by its own failed
 * child gives that one's reason, down to the job that failed first.
 */
export async function ignoredFailures(job: Job, queues?: PipelineQueues): Promise<{ jobId: string; reason: string }[]> {
  return Promise.all(
    Object.entries(await job.getIgnoredChildrenFailures()).map(async ([key, reason]) => ({
      jobId: key.slice(key.lastIndexOf(':') + 1),
      reason: queues ? await firstFailure(queues, reason) : reason,
    })),
  );
}

/** Follows "child <key> failed" down the run's flow to the reason of the job that failed first. */
async function firstFailure(queues: PipelineQueues, reason: string): Promise<string> {
  // A flow is a few levels deep (load, publish, kpi-date, kpi-pass): the bound only guards against a loop.
  for (let depth = 0; depth < 8; depth++) {
    const key = failedChildKey(reason);
    const stage = key && STAGES.find((s) => key.startsWith(`${queues.queueKey(s)}:`));
    if (!key || !stage) break;
    const child = await queues.queues[stage].getJob(key.slice(key.lastIndexOf(':') + 1));
    if (!child?.failedReason) break;
    reason = child.failedReason;
  }
  return reason;
}
