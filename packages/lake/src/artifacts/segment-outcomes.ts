import { segmentOutcomeSchema, type RunContext, type SegmentOutcome } from '@musicflow/contracts';
import { FileDecisions, type FileOutcome } from '@musicflow/ingest';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { readNdjsonBatches, writeNdjson, type NdjsonArtifact } from './ndjson.ts';

/**
 * Every segment of a chunk that is not a pack (a big file's ranges, or files
 * too big to pack) validated and transformed (counts, reasons, staged parts):
 * per-file outcomes live here, not in Redis. The commit reads these chunks
 * one at a time to decide each file; a pack's transform decides its files
 * itself (the pack-files artifact).
 */
export const SEGMENT_OUTCOMES: RunArtifact = {
  path: 'tmp/run=<run>/outcomes/<chunk>.ndjson',
  format: 'JSON lines, one SegmentOutcome (@musicflow/contracts) a line',
  version: 3,
  writers: ['transform'],
  readers: ['commit'],
};

const LINES: NdjsonArtifact<SegmentOutcome> = { name: 'segment-outcomes', schema: segmentOutcomeSchema };

/** Writes chunk `chunkId`'s segment outcomes; returns their URL. */
export async function writeSegmentOutcomes(store: ObjectStore, run: RunContext, chunkId: string, outcomes: readonly SegmentOutcome[]): Promise<string> {
  const url = LAKE_LAYOUT.segmentOutcomes(run.lake, run.runId, chunkId);
  await writeNdjson(store, url, outcomes);
  return url;
}

/**
 * The run's files, decided (SPEC 3, `FileDecisions`) from its chunks' segment
 * outcomes, read a chunk at a time in the order given, given in batches:
 * what is held is one chunk's outcomes and the files cut into several
 * chunks.
 */
export async function* readDecidedFiles(store: ObjectStore, chunks: readonly { outcomesUrl: string }[], threshold: number): AsyncGenerator<FileOutcome[]> {
  const decisions = new FileDecisions(threshold);
  for (const chunk of chunks) {
    for await (const segments of readNdjsonBatches(store, chunk.outcomesUrl, LINES)) {
      const files: FileOutcome[] = [];
      for (const segment of segments) {
        const file = decisions.add(segment);
        if (file) files.push(file);
      }
      if (files.length) yield files;
    }
  }
  const rest = decisions.finish();
  if (rest.length) yield rest;
}
