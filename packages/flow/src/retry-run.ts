import type { Config } from '@musicflow/config';
import { MAX_RETRY_FILES, type RunReport, type Sources } from '@musicflow/contracts';
import type { Warehouse } from '@musicflow/warehouse';
import type { PipelineQueues } from './queues.ts';
import { credentialSetting, restoreSources } from './run-sources.ts';
import { startRecompute } from './start-recompute.ts';
import { startRun, type StartedRun } from './start-run.ts';

/** What a retry of a failed or partial run runs over. */
export type RetryScope =
  /** Every stream file left under the run's sources (ingested ones were archived). */
  | { scope: 'sources' }
  /** Only the files the run rejected, in their current versions. */
  | { scope: 'rejected-files'; files: number }
  /** Only the listen dates whose load failed, recomputed from the lake (their parts were published before the load). */
  | { scope: 'failed-dates'; dates: string[] };

export class RetryRefusedError extends Error {
  constructor(
    readonly reason: 'not-retryable' | 'nothing-failed',
    message: string,
  ) {
    super(message);
  }
}

/**
 * A finished run's sources as recorded have their credentials redacted: each
 * redacted one is mapped back to the configured location (USERS_URL, ...)
 * it came from, else the run cannot be retried as such.
 */
export function restoreRecordedSources(config: Config, recorded: Sources, runId: string): Sources {
  return restoreSources(
    config,
    recorded,
    (field) =>
      new RetryRefusedError(
        'not-retryable',
        `run ${runId}'s ${field} source held a credential, which is never stored: configure it (${credentialSetting(field)}) and start a new run`,
      ),
  );
}

/**
 * Starts a run again after it ended `failed`, `partial` or `cancelled`. With `onlyFailed`:
 * a run that failed after publishing its dates loads just those dates again
 * (a recompute from the lake); otherwise a run over just its rejected files.
 */
export async function retryRun(
  config: Config,
  queues: PipelineQueues,
  db: Warehouse,
  report: Pick<RunReport, 'runId' | 'status' | 'sources' | 'dates'>,
  onlyFailed: boolean,
): Promise<StartedRun & RetryScope> {
  const { runId, status } = report;
  if (status !== 'failed' && status !== 'partial' && status !== 'cancelled')
    throw new RetryRefusedError('not-retryable', `run ${runId} ${status}: only a failed, partial or cancelled run can be retried`);
  if (!onlyFailed) return { ...(await startRun(config, queues, { trigger: 'retry', sources: report.sources })), scope: 'sources' };
  if (status === 'failed' && report.dates.length) {
    const dates = [...report.dates].sort();
    const { runId: retried } = await startRecompute(config, queues, { from: dates[0]!, to: dates.at(-1), dates, reEnrich: false }, 'retry');
    return { runId: retried, created: true, scope: 'failed-dates', dates };
  }
  const { total, files } = await db.listRunFiles(runId, 'rejected', MAX_RETRY_FILES, 0);
  if (total > MAX_RETRY_FILES)
    throw new RetryRefusedError(
      'not-retryable',
      `run ${runId} rejected ${total} files, more than ${MAX_RETRY_FILES} for one retry: retry the whole run instead`,
    );
  if (!files.length)
    throw new RetryRefusedError('nothing-failed', `run ${runId} has no rejected file and no date whose load failed: retry the whole run instead`);
  const started = await startRun(config, queues, { trigger: 'retry', sources: report.sources, files: files.map((f) => f.file) });
  return { ...started, scope: 'rejected-files', files: files.length };
}
