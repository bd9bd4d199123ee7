import type { Config } from '@musicflow/config';
import { recomputeRangeSchema } from '@musicflow/contracts';
import { startRecompute } from '@musicflow/flow';
import { waitAndReport, withQueues } from './wait.ts';

/** `musicflow recompute`: enqueues a recompute run; with --wait, progress, the report and the run's exit code. */
export async function recompute(config: Config, values: { from?: string; to?: string; 're-enrich'?: boolean; wait?: boolean }): Promise<number> {
  const parsed = recomputeRangeSchema.safeParse({ from: values.from, to: values.to, reEnrich: values['re-enrich'] ?? false });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`recompute: --${String(issue.path[0] ?? 'from').replace('reEnrich', 're-enrich')}: ${issue.message}`);
  }
  return withQueues(config, async (queues) => {
    const { runId } = await startRecompute(config, queues, parsed.data);
    console.log(`recompute run ${runId} enqueued (${parsed.data.from} to ${parsed.data.to ?? 'the newest date'})`);
    return values.wait ? waitAndReport(queues, runId, config.JOB_LOCK_MS) : 0;
  });
}
