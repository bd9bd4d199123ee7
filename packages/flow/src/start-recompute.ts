import type { Config } from '@musicflow/config';
import { CATALOGUE_TABLES, jobIds, QUEUES, type KpiRecomputeJob, type RecomputeRange, type RunContext } from '@musicflow/contracts';
import { jobOptions, type PipelineQueues } from './queues.ts';
import { newRunId } from './start-run.ts';

/**
 * Enqueues a recompute run (trigger `recompute`) as one BullMQ flow:
 * load ← kpi, where the KPI job lists the lake's dates in the range and adds
 * one date job each. It reads the lake alone: no stream file is listed,
 * nothing archived. With `reEnrich`, the KPI job's children first snapshot the
 * configured users and songs (the extractor's catalogue jobs), which it joins
 * the dates' parts with again.
 */
export async function startRecompute(config: Config, queues: PipelineQueues, range: RecomputeRange): Promise<{ runId: string }> {
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
        children: range.reEnrich
          ? CATALOGUE_TABLES.map((table) => ({
              name: 'extract',
              queueName: QUEUES.extract,
              data: { run, table },
              // The KPI job names their failures.
              opts: { ...opts, jobId: jobIds.catalogue(runId, table), ignoreDependencyOnFailure: true },
            }))
          : undefined,
      },
    ],
  });
  return { runId };
}
