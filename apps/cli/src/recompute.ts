import type { Config } from '@musicflow/config';
import { recomputeRangeSchema } from '@musicflow/contracts';
import { PipelineQueues, redisConnection, startRecompute } from '@musicflow/flow';
import { formatReport } from './format.ts';
import { exitCodeOf } from './preflight.ts';
import { waitForRun } from './wait.ts';

/** `musicflow recompute`: enqueues a recompute run; with --wait, progress, the report and the run's exit code. */
export async function recompute(config: Config, values: { from?: string; to?: string; 're-enrich'?: boolean; wait?: boolean }): Promise<number> {
  const parsed = recomputeRangeSchema.safeParse({ from: values.from, to: values.to, reEnrich: values['re-enrich'] ?? false });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`recompute: --${String(issue.path[0] ?? 'from').replace('reEnrich', 're-enrich')}: ${issue.message}`);
  }
  const connection = redisConnection(config.REDIS_URL, 'worker');
  const queues = new PipelineQueues(connection, config.QUEUE_PREFIX);
  try {
    const { runId } = await startRecompute(config, queues, parsed.data);
    console.log(`recompute run ${runId} enqueued (${parsed.data.from} to ${parsed.data.to ?? 'the newest date'})`);
    if (!values.wait) return 0;
    const progress = await waitForRun(queues, runId);
    if (progress.report) console.log(formatReport(progress.report));
    else console.log(`run ${runId} ${progress.state}${progress.error ? `: ${progress.error}` : ''}`);
    return exitCodeOf(progress.report);
  } finally {
    await queues.close();
    connection.disconnect();
  }
}
