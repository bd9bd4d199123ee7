import type { Config } from '@musicflow/config';
import { jobIds, QUEUES, type Chunk, type RunContext } from '@musicflow/contracts';
import { jobOptions, type PipelineQueues } from './queues.ts';

/**
 * Adds one validate → transform chain per chunk under the run's KPI job, which
 * then waits for all of them. Ids derive from run and chunk, so a retried
 * extract adds nothing twice. A failed chunk does not block the run: the KPI
 * step sees it among the ignored failures and fails the run.
 */
export async function spawnChunkJobs(config: Config, queues: PipelineQueues, run: RunContext, chunks: Chunk[]): Promise<void> {
  const opts = jobOptions(config);
  const parent = { id: jobIds.kpi(run.runId), queue: queues.queueKey('kpi') };
  await queues.flows.addBulk(
    chunks.map((chunk) => ({
      name: 'transform',
      queueName: QUEUES.transform,
      data: { run, chunk },
      opts: { ...opts, jobId: jobIds.transform(run.runId, chunk.chunkId), parent, ignoreDependencyOnFailure: true },
      children: [
        {
          name: 'validate',
          queueName: QUEUES.validate,
          data: { run, chunk },
          opts: { ...opts, jobId: jobIds.validate(run.runId, chunk.chunkId), failParentOnFailure: true },
        },
      ],
    })),
  );
}
