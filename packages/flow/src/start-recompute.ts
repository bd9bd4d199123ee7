import type { Config } from '@musicflow/config';
import { jobIds, JOB_KINDS, QUEUES, type JobData, type RecomputeRange, type RunContext, type RunTrigger } from '@musicflow/contracts';
import { jobOptions, type PipelineQueues } from './queues.ts';
import { newRunId } from './start-run.ts';

/**
 * Enqueues a recompute run (trigger `recompute`, or `retry` for the dates whose load failed) as one BullMQ flow:
 * load ← recompute, where the recompute job lists the lake's dates in the
 * range and adds one date job each. It reads the lake alone: no stream file
 * is listed, nothing archived. With `reEnrich`, it first looks up the current
 * users and songs of the dates' parts (the extractor's catalogue jobs) and
 * joins the parts with them again.
 */
export async function startRecompute(
  config: Config,
  queues: PipelineQueues,
  range: RecomputeRange,
  trigger: RunTrigger = 'recompute',
  /** A backfill's date: its run id, and the backfill's driver job as the parent that waits for it. */
  within?: { runId: string; parent: { id: string; queue: string } },
): Promise<{ runId: string }> {
  const runId = within?.runId ?? `${newRunId()}-recompute`;
  const run: RunContext = {
    runId,
    trigger,
    startedAt: new Date().toISOString(),
    sources: { streams: config.STREAMS_URL, users: config.USERS_URL, songs: config.SONGS_URL },
    lake: config.LAKE_URL,
    archive: config.ARCHIVE_URL,
  };
  const opts = jobOptions(config);
  await queues.flows.add({
    name: 'load',
    queueName: QUEUES[JOB_KINDS.load.stage],
    data: { run } satisfies JobData<'load'>,
    // A date that fails does not fail its backfill: the backfill reports it.
    opts: { ...opts, jobId: jobIds.load(runId), ...(within && { parent: within.parent, ignoreDependencyOnFailure: true }) },
    children: [
      {
        name: 'recompute',
        queueName: QUEUES[JOB_KINDS.recompute.stage],
        data: { run, recompute: range } satisfies JobData<'recompute'>,
        // The loader always runs: it records a failed recompute too.
        opts: { ...opts, jobId: jobIds.publish(runId), ignoreDependencyOnFailure: true },
      },
    ],
  });
  return { runId };
}
