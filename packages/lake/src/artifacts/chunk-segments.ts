import { segmentSchema, type RunContext, type Segment } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { readAllNdjson, writeNdjson, type NdjsonArtifact } from './ndjson.ts';

/**
 * A chunk's segments (the plan's packing of ranges and small files), read by
 * its validate job: the job's data names this object, so it has the same
 * size for a chunk of one file or of thousands.
 */
export const CHUNK_SEGMENTS: RunArtifact = {
  path: 'tmp/run=<run>/chunks/<chunk>.ndjson',
  format: 'JSON lines, one Segment (@musicflow/contracts) a line',
  version: 2,
  writers: ['plan'],
  readers: ['validate'],
};

const LINES: NdjsonArtifact<Segment> = { name: 'chunk-segments', schema: segmentSchema };

/** Writes chunk `chunkId`'s segments; returns their URL. */
export async function writeChunkSegments(store: ObjectStore, run: RunContext, chunkId: string, segments: readonly Segment[]): Promise<string> {
  const url = LAKE_LAYOUT.chunkSegments(run.lake, run.runId, chunkId);
  await writeNdjson(store, url, segments);
  return url;
}

export const readChunkSegments = (store: ObjectStore, url: string) => readAllNdjson(store, url, LINES);
