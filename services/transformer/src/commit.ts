import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import { childResults, QUEUES, type CommitJob, type CommitResult } from '@musicflow/contracts';
import { decideFiles } from '@musicflow/ingest';
import { gatherFileQuarantines, publishParts } from '@musicflow/lake';
import { claimRunCommit, runCancelledError, type ServiceContext } from '@musicflow/flow';

/**
 * The run's lake commit, once its plan and every transform are done: decides
 * each file (SPEC 3) from the transform results its KPI job (its parent)
 * holds, gathers each file's quarantine, and publishes the accepted files'
 * staged parts under `processed/`, taking those files' earlier rows out of
 * the dates they touch. Nothing in the lake changes before it claims the
 * run's commit, so a run cancelled before then leaves the lake as it was; a
 * retry does the same again (`publishParts` is safe to repeat).
 */
export function createCommitProcessor({ store, config, queues }: ServiceContext) {
  return async (job: Job, { run }: CommitJob, log: Logger): Promise<CommitResult> => {
    const startedAt = Date.now();
    const parentId = job.parent?.queueKey === queues.queueKey('kpi') ? job.parent.id : undefined;
    const parent = parentId && (await queues.queues.kpi.getJob(parentId));
    if (!parent) {
      throw new UnrecoverableError(`commit ${job.id}: no KPI job on the ${QUEUES.kpi} queue waits for it (a commit is added by its run's KPI job)`);
    }
    const files = decideFiles(childResults(await parent.getChildrenValues(), 'transform'), config.REJECT_THRESHOLD);
    // From here on the lake changes: a run cancelled before this point leaves it as it was.
    if (!(await claimRunCommit(queues, run.runId))) throw runCancelledError(run.runId);
    const accepted = files.filter((f) => f.rejectedReasons.length === 0);
    await gatherFileQuarantines(
      store,
      run,
      files.map((f) => ({
        fileId: f.fileId,
        segments: f.segments[0]!.validation.count,
        urls: f.segments
          .map((s) => s.validation.quarantineUrl)
          .filter((u): u is string => !!u)
          .sort(),
      })),
    );
    // A pack's parts are listed by each of its files: publish each once.
    const staged = [...new Map(accepted.flatMap((f) => f.segments.flatMap((s) => s.parts)).map((p) => [p.url, p])).values()];
    const parts = await publishParts(store, run, staged, new Set(accepted.map((f) => f.fileId)));
    log.info({ files: files.length, accepted: accepted.length, parts: parts.length }, 'lake commit done');
    await job.updateProgress({ percent: 100, rows: 0 });
    return { kind: 'commit', startedAt, finishedAt: Date.now(), parts, rejectThreshold: config.REJECT_THRESHOLD };
  };
}
