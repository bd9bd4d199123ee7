import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import { childResults, QUEUES, type CommitJob, type CommitResult } from '@musicflow/contracts';
import { gatherFileQuarantines, publishParts, readDecidedFiles, RunFilesWriter, type FileQuarantine, type StagedPart } from '@musicflow/lake';
import { claimRunCommit, runCancelledError, type ServiceContext } from '@musicflow/flow';

/** Files whose quarantines are gathered at once. */
const QUARANTINE_BATCH = 256;

/**
 * The run's lake commit, once its plan and every transform are done: decides
 * each file (SPEC 3) from the segment outcomes of the transforms its KPI job
 * (its parent) waits for, a chunk at a time, writes the run's file list and
 * the report's counts of it as it goes (the one read of every file's outcome
 * a run makes), gathers each file's quarantine, and publishes the accepted files'
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
    const values = await parent.getChildrenValues();
    const [plan] = childResults(values, 'plan');
    if (!plan) throw new Error(`commit ${job.id}: the run's plan job left no result`);
    // In chunk order, so the file list has the same order every time.
    const transforms = childResults(values, 'transform').sort((a, b) => a.chunkId.localeCompare(b.chunkId));
    // From here on the lake changes: a run cancelled before this point leaves it as it was.
    if (!(await claimRunCommit(queues, run.runId))) throw runCancelledError(run.runId);
    // Files are decided a chunk at a time; what is kept of them is the accepted files' ids and staged parts
    // (a pack's parts are listed by each of its files: each is kept once).
    const ingested = new Set<string>();
    const staged = new Map<string, StagedPart>();
    let files = 0;
    let quarantines: FileQuarantine[] = [];
    const list = new RunFilesWriter(store, run);
    try {
      await list.addPlannedOut(store, plan.plannedOut.url);
      for await (const decided of readDecidedFiles(store, transforms, config.REJECT_THRESHOLD)) {
        await list.addDecided(decided);
        for (const file of decided) {
          files++;
          if (file.rejectedReasons.length === 0) {
            ingested.add(file.fileId);
            for (const s of file.segments) for (const part of s.parts) staged.set(part.url, part);
          }
          // Only files with bad rows have a quarantine to gather: most have none, and a day of small files is 100k of them.
          const urls: string[] = [];
          for (const s of file.segments) if (s.validation.quarantineUrl) urls.push(s.validation.quarantineUrl);
          if (!urls.length) continue;
          quarantines.push({ fileId: file.fileId, segments: file.segments[0]!.validation.count, urls: urls.sort() });
          if (quarantines.length === QUARANTINE_BATCH) {
            await gatherFileQuarantines(store, run, quarantines);
            quarantines = [];
          }
        }
      }
    } catch (err) {
      list.abort(err as Error);
      throw err;
    }
    const fileList = await list.end();
    await gatherFileQuarantines(store, run, quarantines);
    const parts = await publishParts(store, run, [...staged.values()], ingested);
    log.info({ files, accepted: ingested.size, parts: parts.length }, 'lake commit done');
    await job.updateProgress({ percent: 100, rows: 0 });
    return { kind: 'commit', startedAt, finishedAt: Date.now(), parts, files: fileList };
  };
}
