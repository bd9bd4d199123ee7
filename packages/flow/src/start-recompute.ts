import type { Config } from '@musicflow/config';
import { jobIds, QUEUES, type KpiRecomputeJob, type RecomputeRange, type RunContext } from '@musicflow/contracts';
import { jobOptions, type PipelineQueues } from './queues.ts';
import { newRunId } from './start-run.ts';

/**
 * Enqueues a recompute run (trigger `recompute`) as one BullMQ flow:
 * load ← kpi, where the KPI job lists the lake's dates in the range and adds
 * one date job each. It reads the lake alone: no source is listed, nothing
 * archived. The run's sources are the configured ones, for the record.
 */
export async function startRecompute(config: Config, queues: PipelineQueues, range: RecomputeRange): Promise<{ runId: string }> {
  if (range.reEnrich) throw new Error('reEnrich is not available yet: recompute reads the lake parts as they were enriched');
  const runId = `${newRunId()}-recompute`;
  const run: RunContext = {
    runId,
    trigger: 'recompute',
    startedAt: new Date().toISOString(),
    sources: { streams: config.STREAMS_URL, users: config.USERS_URL, songs: config.SONGS_URL },
    lake: config.LAKE_URL,
    archive: config.ARCHIVE_URL,
  };
  const opts = jobOptions(config);
  await queues.flows.add({
    name: 'load',
    queueName: QUEUES.load,
    data: { run },
    opts: { ...opts, jobId: jobIds.load(runId) },
    children: [
      {
        name: 'kpi',
        queueName: QUEUES.kpi,
        data: { run, recompute: range } satisfies KpiRecomputeJob,
        // The loader always runs: it records a failed recompute too.
        opts: { ...opts, jobId: jobIds.kpi(runId), ignoreDependencyOnFailure: true },
      },
    ],
  });
  return { runId };
}
