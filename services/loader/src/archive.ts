import type { Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import { jobIds, type ArchiveJob, type ArchiveResult, type RunContext } from '@musicflow/contracts';
import type { Children, ServiceContext } from '@musicflow/flow';
import { loadedFilesSlices, readRunFiles } from '@musicflow/lake';
import { joinUrl, ObjectMissingError, relativeKey, WritesInFlight } from '@musicflow/storage';

/** Files one archive job moves at once: small files are mostly waiting on the store. */
const ARCHIVE_CONCURRENCY = 16;

/**
 * The archive jobs of a loaded run: its file list (the run-files artifact) cut into slices of
 * ARCHIVE_FILES_PER_JOB ingested files, each a byte range of the list, so a job's data has the same size
 * for a run of 5 files or of a million. Read once, a slice at a time.
 */
export async function archiveJobs(
  { store, config }: Pick<ServiceContext, 'store' | 'config'>,
  run: RunContext,
  filesUrl: string,
): Promise<Children<'archive'>> {
  const jobs: Children<'archive'>['jobs'] = [];
  for await (const { start, end, loaded } of loadedFilesSlices(store, filesUrl, config.ARCHIVE_FILES_PER_JOB)) {
    const slice = jobs.length;
    jobs.push({ id: jobIds.archive(run.runId, slice), data: { run, filesUrl, slice, start, end, loaded } });
  }
  // A slice that fails after its retries leaves its files in place for the next run, and the loader says so.
  return { kind: 'archive', jobs, onFailure: 'ignore' };
}

/**
 * Moves one slice of a run's ingested files to `<archive>/<yyyy>/<mm>/<dd>/` of the run date (copy, verify,
 * delete: SPEC 6). A retried slice finds the files an earlier attempt moved gone from the streams folder and
 * counts them, so a file is never moved twice nor lost.
 */
export function createArchiveProcessor({ store }: Pick<ServiceContext, 'store'>) {
  return async (job: Job, data: ArchiveJob, log: Logger): Promise<ArchiveResult> => {
    const startedAt = Date.now();
    const { run, slice } = data;
    const [yyyy, mm, dd] = run.startedAt.slice(0, 10).split('-') as [string, string, string];
    const archiveFolder = joinUrl(run.archive, yyyy, mm, dd);
    let moved = 0;
    let movedBefore = 0;
    const move = async (file: string) => {
      try {
        await store.move(file, joinUrl(archiveFolder, relativeKey(run.sources.streams, file)));
        moved++;
      } catch (err) {
        if (!(err instanceof ObjectMissingError)) throw err;
        movedBefore++;
      }
    };
    // ARCHIVE_CONCURRENCY moves at once, the slice read in batches.
    const moves = new WritesInFlight(ARCHIVE_CONCURRENCY);
    for await (const files of readRunFiles(store, data.filesUrl, data))
      for (const file of files) if (file.status === 'loaded') await moves.add(move(file.file));
    await moves.drain();
    if (moved + movedBefore !== data.loaded) {
      throw new Error(`archive ${job.id}: its slice of ${data.filesUrl} lists ${moved + movedBefore} ingested files, not ${data.loaded}`);
    }
    if (movedBefore) log.info({ moved, movedBefore }, 'archive slice resumed: files an earlier attempt moved were skipped');
    await job.updateProgress({ percent: 100, rows: 0 });
    return { kind: 'archive', startedAt, finishedAt: Date.now(), slice, moved, movedBefore };
  };
}
