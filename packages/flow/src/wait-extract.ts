import { setTimeout as sleep } from 'node:timers/promises';
import { UnrecoverableError } from 'bullmq';
import { jobIds } from '@musicflow/contracts';
import type { PipelineQueues } from './queues.ts';

/**
 * Resolves once the run's extract job has completed, and with it the run's
 * catalogue snapshot: the extractor adds the chunk jobs before it reads the
 * catalogue, so validation overlaps that read and only transformers wait.
 */
export async function waitForExtract(queues: PipelineQueues, runId: string, { pollMs = 50, timeoutMs = 30 * 60_000 } = {}): Promise<void> {
  const id = jobIds.extract(runId);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const state = await queues.queues.extract.getJobState(id);
    if (state === 'completed') return;
    if (state === 'failed') throw new UnrecoverableError(`the run's catalogue could not be extracted (job ${id} failed)`);
    if (state === 'unknown') throw new UnrecoverableError(`the run's extract job ${id} is gone`);
    // Waiting, active, or delayed between attempts.
    if (Date.now() > deadline) throw new Error(`the run's catalogue was not extracted within ${timeoutMs / 1000} s`);
    await sleep(pollMs);
  }
}
