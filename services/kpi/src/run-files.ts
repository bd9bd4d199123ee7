import type { FileDuplicatesArtifact, RunFile } from '@musicflow/contracts';
import { hashBytes, shardOfHash } from '@musicflow/kpi';
import { readDecidedFiles, readFileDuplicates, readPlannedOutFiles } from '@musicflow/lake';
import type { ObjectStore } from '@musicflow/storage';
import { decidedRunFile, plannedOutRunFile, type RunTally } from './outcome.ts';

/** Where a run's file list comes from: the plan's rejected files, the chunks' outcomes and the dates' duplicates per file. */
export interface RunFileSources {
  plannedOutUrl: string;
  /** In chunk order, so the files come in the same order every time. */
  transforms: readonly { outcomesUrl: string }[];
  rejectThreshold: number;
  duplicateFiles: readonly FileDuplicatesArtifact[];
}

/**
 * Every file of the run once, with its outcome, as the run's file list has
 * it; each file is also added to `tally`. The duplicates per file are joined
 * in shares of about `held` files (by a hash of the file id), the chunks'
 * outcomes read once a share: the job holds one share of the counts whatever
 * the run re-delivers. Most runs have none, or a few: one share, files in
 * chunk order.
 */
export async function* runFileBatches(store: ObjectStore, from: RunFileSources, tally: RunTally, held: number): AsyncGenerator<RunFile[]> {
  for await (const files of readPlannedOutFiles(store, from.plannedOutUrl)) {
    yield files.map((file) => {
      tally.plannedOut(file);
      return plannedOutRunFile(file);
    });
  }
  // A file in several dates or passes is in several artifacts: an upper bound of the files.
  const shares = Math.max(1, Math.ceil(from.duplicateFiles.reduce((n, a) => n + a.files, 0) / held));
  for (let share = 0; share < shares; share++) {
    const inShare = (fileId: string) => shares === 1 || shareOf(fileId, shares) === share;
    const duplicates = await readFileDuplicates(store, from.duplicateFiles, inShare);
    for await (const files of readDecidedFiles(store, from.transforms, from.rejectThreshold)) {
      const ours = shares === 1 ? files : files.filter((f) => inShare(f.fileId));
      if (!ours.length) continue;
      yield ours.map((file) => {
        tally.decided(file);
        return decidedRunFile(file, duplicates);
      });
    }
  }
}

/** A file id's share of `shares`, as partials shard a track by its id's bytes. */
function shareOf(fileId: string, shares: number): number {
  const bytes = Buffer.from(fileId);
  return shardOfHash(hashBytes(bytes, 0, bytes.length), shares);
}
