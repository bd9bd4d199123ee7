import { segmentOutcomeSchema, type LakePart, type RunContext, type SegmentOutcome } from '@musicflow/contracts';
import { FileDecisions, type FileOutcome } from '@musicflow/ingest';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { readNdjsonBatches, writeNdjson, type NdjsonArtifact } from './ndjson.ts';

/**
 * Every segment of a chunk validated and transformed (counts, reasons, staged
 * parts): per-file outcomes live here, not in Redis. The commit reads the
 * run's chunks one at a time to decide each file. The parts a pack of small
 * files shares are listed once, on its first line: a chunk of 4,000 small
 * files over five dates wrote them 4,000 times (about 1 KB a file).
 */
export const SEGMENT_OUTCOMES: RunArtifact = {
  path: 'tmp/run=<run>/outcomes/<chunk>.ndjson',
  format: "JSON lines, one SegmentOutcome (@musicflow/contracts) a line; a pack's parts on its first line only",
  version: 2,
  writers: ['transform'],
  readers: ['commit'],
};

const LINES: NdjsonArtifact<SegmentOutcome> = { name: 'segment-outcomes', schema: segmentOutcomeSchema };

/** Writes chunk `chunkId`'s segment outcomes (each packed one with the pack's parts); returns their URL. */
export async function writeSegmentOutcomes(store: ObjectStore, run: RunContext, chunkId: string, outcomes: readonly SegmentOutcome[]): Promise<string> {
  const url = LAKE_LAYOUT.segmentOutcomes(run.lake, run.runId, chunkId);
  await writeNdjson(store, url, packPartsOnce(outcomes));
  return url;
}

function* packPartsOnce(outcomes: readonly SegmentOutcome[]): Generator<SegmentOutcome> {
  let listed = false;
  for (const outcome of outcomes) {
    if (!outcome.pack) yield outcome;
    else if (!listed) {
      listed = true;
      yield outcome;
    } else yield { ...outcome, parts: [] };
  }
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
    let packParts: LakePart[] | undefined;
    for await (const segments of readNdjsonBatches(store, chunk.outcomesUrl, LINES)) {
      const files: FileOutcome[] = [];
      for (const segment of segments) {
        // Every packed file's parts are the pack's, listed on the first packed line: one array for all of them.
        if (segment.pack) {
          if (packParts) segment.parts = packParts;
          else packParts = segment.parts;
        }
        const file = decisions.add(segment);
        if (file) files.push(file);
      }
      if (files.length) yield files;
    }
  }
  const rest = decisions.finish();
  if (rest.length) yield rest;
}
