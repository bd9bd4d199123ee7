import type { Config } from '@musicflow/config';
import type { RecomputeRange, RunTrigger } from '@musicflow/contracts';
import type { PipelineQueues } from './queues.ts';
import { addRunFlow, newRunContext, newRunId } from './start-run.ts';

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
  const run = newRunContext(config, runId, trigger, { streams: config.STREAMS_URL, users: config.USERS_URL, songs: config.SONGS_URL }, 'recompute');
  await addRunFlow(config, queues, run, { kind: 'recompute', data: { run, recompute: range } }, within?.parent);
  return { runId };
}
