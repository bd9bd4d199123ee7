import { WaitingChildrenError, type Job } from 'bullmq';
import type { Config } from '@musicflow/config';
import { FLOW_CHILDREN, JOB_KINDS, STAGES, type JobData, type JobKind } from '@musicflow/contracts';
import { updateDataWhileLocked } from './attempt.ts';
import { failedChildKey } from './bullmq-internals.ts';
import { jobOptions, type PipelineQueues } from './queues.ts';

export interface ChildJob<K extends JobKind> {
  id: string;
  data: JobData<K>;
}

/** Jobs of one kind to add under a parent; `onFailure`: `fail` fails the parent with the child, `ignore` lets it run and find the failure. */
export interface Children<K extends JobKind> {
  kind: K;
  jobs: ChildJob<K>[];
  onFailure: 'fail' | 'ignore';
  /** The parent when it is not the step job itself (the plan adds transform jobs under kpi). */
  parent?: { id: string; kind: JobKind };
}

/**
 * Adds jobs of one kind as children of `parent` (BullMQ's "add children at
 * run time" pattern). Their ids are fixed, so a step retried after a crash
 * adds nothing twice. Only the kinds FLOW_CHILDREN lists under the parent's.
 */
export async function addChildJobs<K extends JobKind>(
  config: Config,
  queues: PipelineQueues,
  parent: { id: string; kind: JobKind },
  children: Children<K>,
): Promise<void> {
  const { kind, jobs, onFailure } = children;
  if (!(FLOW_CHILDREN[parent.kind] as readonly JobKind[]).includes(kind)) {
    throw new Error(`a ${parent.kind} job may not add ${kind} jobs (FLOW_CHILDREN in packages/contracts)`);
  }
  if (!jobs.length) return;
  const opts = jobOptions(config);
  await queues.queues[JOB_KINDS[kind].stage].addBulk(
    jobs.map((job) => ({
      name: kind,
      data: job.data,
      opts: {
        ...opts,
        jobId: job.id,
        parent: { id: parent.id, queue: queues.queueKey(JOB_KINDS[parent.kind].stage) },
        ...(onFailure === 'fail' ? { failParentOnFailure: true } : { ignoreDependencyOnFailure: true }),
      },
    })),
  );
}

/**
 * BullMQ's step-job pattern, in one place. A step job's processor switches
 * on the `step` its data records; to move on it calls this with the data of
 * the next step and the children that step waits for. Children first, then
 * the step: a retry after a crash in between adds the same jobs again (fixed
 * ids), harmlessly. Throws WaitingChildrenError while children are pending
 * (BullMQ runs the job again once they are done); returns the recorded data
 * when there is nothing to wait for, so the processor goes on at once.
 */
export async function enterStep<D extends { step?: string }>(
  context: { config: Config; queues: PipelineQueues },
  job: Job,
  token: string | undefined,
  next: D,
  ...children: Children<JobKind>[]
): Promise<D> {
  const self = { id: job.id!, kind: job.name as JobKind };
  for (const c of children) await addChildJobs(context.config, context.queues, c.parent ?? self, c);
  await updateDataWhileLocked(context.queues.connection, context.queues.prefix, job, token, next);
  if (await job.moveToWaitingChildren(token!)) throw new WaitingChildrenError();
  return next;
}

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
  // A flow is a few levels deep (load, kpi, kpi-date, kpi-pass): the bound only guards against a loop.
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
