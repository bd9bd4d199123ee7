import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import { childResults, QUEUES, type CommitJob, type CommitResult, type FileQuarantine, type RunContext } from '@musicflow/contracts';
import { gatherFileQuarantines, loadedFileIds, publishParts, readDecidedFiles, readPackQuarantines, RunFilesWriter, type StagedPart } from '@musicflow/lake';
import type { ObjectStore } from '@musicflow/storage';
import { claimRunCommit, runCancelledError, type ServiceContext } from '@musicflow/flow';

/** Files whose quarantines are gathered at once. */
const QUARANTINE_BATCH = 256;

/**
 * The run's lake commit, once its plan and every transform are done: writes
 * the run's file list and the report's counts of it (the one read of every
 * file's outcome a run makes): each pack's files as its transform decided
 * them, then the other chunks' files decided (SPEC 3) from their segment
 * outcomes, a chunk at a time; gathers each file's quarantine, and publishes
 * the accepted files' staged parts under `processed/`, taking those files'
 * earlier rows out of the dates they touch. Nothing in the lake changes
 * before it claims the run's commit, so a run cancelled before then leaves
 * the lake as it was; a retry does the same again (`publishParts` is safe to
 * repeat).
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
    const staged = new Map<string, StagedPart>();
    const quarantines = new QuarantineBatches(store, run);
    const list = new RunFilesWriter(store, run);
    const unpacked: { outcomesUrl: string }[] = [];
    try {
      await list.addPlannedOut(store, plan.plannedOut.url);
      for (const { pack, outcomesUrl } of transforms) {
        if (outcomesUrl) unpacked.push({ outcomesUrl });
        if (!pack) continue;
        await list.addPack(store, pack);
        for (const part of pack.parts) staged.set(part.url, part);
        if (pack.quarantinesUrl)
          for await (const files of readPackQuarantines(store, pack.quarantinesUrl)) for (const file of files) await quarantines.add(file);
      }
      // What is kept of the other chunks' files is their accepted files' staged parts.
      for await (const decided of readDecidedFiles(store, unpacked, config.REJECT_THRESHOLD)) {
        await list.addDecided(decided);
        for (const file of decided) {
          if (file.rejectedReasons.length === 0) for (const s of file.segments) for (const part of s.parts) staged.set(part.url, part);
          const urls: string[] = [];
          for (const s of file.segments) if (s.validation.quarantineUrl) urls.push(s.validation.quarantineUrl);
          if (urls.length) await quarantines.add({ fileId: file.fileId, segments: file.segments[0]!.validation.count, urls: urls.sort() });
        }
      }
    } catch (err) {
      list.abort(err as Error);
      throw err;
    }
    const fileList = await list.end();
    await quarantines.flush();
    const parts = await publishParts(store, run, [...staged.values()], () => loadedFileIds(store, fileList.url));
    const { filesLoaded, filesRejected } = fileList.tally;
    log.info({ files: filesLoaded + filesRejected, accepted: filesLoaded, parts: parts.length }, 'lake commit done');
    await job.updateProgress({ percent: 100, rows: 0 });
    return { kind: 'commit', startedAt, finishedAt: Date.now(), parts, files: fileList };
  };
}

/** Quarantines gathered QUARANTINE_BATCH files at a time: only files with bad rows have one, and a day of small files is 100k of them. */
class QuarantineBatches {
  private batch: FileQuarantine[] = [];

  constructor(
    private readonly store: ObjectStore,
    private readonly run: RunContext,
  ) {}

  async add(file: FileQuarantine): Promise<void> {
    this.batch.push(file);
    if (this.batch.length === QUARANTINE_BATCH) await this.flush();
  }

  async flush(): Promise<void> {
    const files = this.batch;
    this.batch = [];
    await gatherFileQuarantines(this.store, this.run, files);
  }
}
