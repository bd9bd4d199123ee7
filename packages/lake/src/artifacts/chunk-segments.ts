import { segmentSchema, type Segment } from '@musicflow/contracts';
import { joinUrl, type ObjectStore } from '@musicflow/storage';
import { readAllNdjson, writeNdjson, type NdjsonArtifact } from './ndjson.ts';

/**
 * A chunk's segments (the plan's packing of ranges and small files), read by
 * its validate job: the job's data names this object, so it has the same
 * size for a chunk of one file or of MAX_SEGMENTS_PER_CHUNK.
 */
const CHUNK_SEGMENTS: NdjsonArtifact<Segment> = { name: 'chunk-segments', version: 1, schema: segmentSchema };

export const chunkSegmentsUrl = (lake: string, runId: string, chunkId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'chunks', `${chunkId}.ndjson`);

export const writeChunkSegments = (store: ObjectStore, url: string, segments: readonly Segment[]) => writeNdjson(store, url, CHUNK_SEGMENTS, segments);

export const readChunkSegments = (store: ObjectStore, url: string) => readAllNdjson(store, url, CHUNK_SEGMENTS);
