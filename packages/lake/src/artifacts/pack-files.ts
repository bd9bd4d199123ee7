import { fileQuarantineSchema, type FileQuarantine, type PackFiles, type RunContext, type SegmentOutcome } from '@musicflow/contracts';
import { FileDecisions } from '@musicflow/ingest';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { NdjsonWriter, readNdjsonBatches, type NdjsonArtifact } from './ndjson.ts';
import { writeAllRecords } from './records.ts';
import { decidedRunFile, encodeRunFile, RunTally } from './run-files.ts';

/**
 * A pack's files as its transform decided them (each is whole in the pack),
 * in the run file list's format: the commit appends them to the list as they
 * are, and gathers the quarantines of those with bad rows.
 */
export const PACK_FILES: Record<'files' | 'quarantines', RunArtifact> = {
  files: {
    path: 'tmp/run=<run>/packs/<chunk>.files.bin',
    format: "the run files artifact's records: the commit appends them to the run's list as they are",
    version: 2,
    writers: ['transform'],
    readers: ['commit'],
  },
  quarantines: {
    path: 'tmp/run=<run>/packs/<chunk>.quarantines.ndjson',
    format: "JSON lines, one FileQuarantine a line: a packed file with bad rows, its segment quarantine's URL; only when there are any",
    version: 1,
    writers: ['transform'],
    readers: ['commit'],
  },
};

const QUARANTINE_LINES: NdjsonArtifact<FileQuarantine> = { name: 'pack-quarantines', schema: fileQuarantineSchema };

/**
 * Decides the files of pack `chunkId` (SPEC 3, as the commit decides a big
 * file's segments) from their outcomes, one segment a file, and writes them;
 * the pack's staged parts (its accepted files' rows) complete its `PackFiles`.
 */
export async function writePackFiles(
  store: ObjectStore,
  run: RunContext,
  chunkId: string,
  outcomes: readonly SegmentOutcome[],
  threshold: number,
): Promise<Omit<PackFiles, 'parts'>> {
  const decisions = new FileDecisions(threshold);
  const tally = new RunTally();
  const files = outcomes.map((outcome) => {
    const file = decisions.add(outcome);
    if (!file)
      throw new Error(`pack ${chunkId}: ${outcome.validation.fileUrl} is segment ${outcome.validation.index} of ${outcome.validation.count}, not a whole file`);
    tally.decided(file);
    return decidedRunFile(file);
  });
  const filesUrl = LAKE_LAYOUT.packFiles(run.lake, run.runId, chunkId);
  await writeAllRecords(store, filesUrl, files, encodeRunFile);
  let quarantines: NdjsonWriter<FileQuarantine> | undefined;
  try {
    for (const { validation } of outcomes) {
      if (!validation.quarantineUrl) continue;
      quarantines ??= new NdjsonWriter(store, LAKE_LAYOUT.packQuarantines(run.lake, run.runId, chunkId));
      await quarantines.add({ fileId: validation.fileId, segments: 1, urls: [validation.quarantineUrl] });
    }
  } catch (err) {
    quarantines?.abort(err as Error);
    throw err;
  }
  await quarantines?.end();
  return { filesUrl, quarantinesUrl: quarantines?.url, tally: { ...tally } };
}

/** A pack's files with bad rows (`writePackFiles`), in batches. */
export const readPackQuarantines = (store: ObjectStore, url: string) => readNdjsonBatches(store, url, QUARANTINE_LINES);
