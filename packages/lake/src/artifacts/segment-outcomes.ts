import { segmentOutcomeSchema, type SegmentOutcome } from '@musicflow/contracts';
import { joinUrl, type ObjectStore } from '@musicflow/storage';
import { readNdjson, writeNdjson, type NdjsonArtifact } from './ndjson.ts';

/**
 * Every segment of a chunk validated and transformed (counts, reasons, staged
 * parts): per-file outcomes live here, not in Redis. The publish step reads
 * the run's chunks one at a time to decide each file and count the report.
 */
const SEGMENT_OUTCOMES: NdjsonArtifact<SegmentOutcome> = { name: 'segment-outcomes', version: 1, schema: segmentOutcomeSchema };

export const segmentOutcomesUrl = (lake: string, runId: string, chunkId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'outcomes', `${chunkId}.ndjson`);

export const writeSegmentOutcomes = (store: ObjectStore, url: string, outcomes: readonly SegmentOutcome[]) =>
  writeNdjson(store, url, SEGMENT_OUTCOMES, outcomes);

export const readSegmentOutcomes = (store: ObjectStore, url: string) => readNdjson(store, url, SEGMENT_OUTCOMES);
