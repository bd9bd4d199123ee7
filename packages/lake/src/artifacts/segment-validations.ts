import { segmentValidationSchema, type RunContext, type SegmentValidation } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { readAllNdjson, writeNdjson, type NdjsonArtifact } from './ndjson.ts';

/** What validation found in each segment of a chunk (counts, reasons, quarantine), the validator's hand-off to the transformer. */
export const SEGMENT_VALIDATIONS: RunArtifact = {
  path: 'tmp/run=<run>/valid/<chunk>.validations.ndjson',
  format: 'JSON lines, one SegmentValidation (@musicflow/contracts) a line',
  version: 2,
  writers: ['validate'],
  readers: ['transform'],
};

const LINES: NdjsonArtifact<SegmentValidation> = { name: 'segment-validations', schema: segmentValidationSchema };

/** Writes chunk `chunkId`'s segment validations; returns their URL. */
export async function writeSegmentValidations(
  store: ObjectStore,
  run: RunContext,
  chunkId: string,
  validations: readonly SegmentValidation[],
): Promise<string> {
  const url = LAKE_LAYOUT.segmentValidations(run.lake, run.runId, chunkId);
  await writeNdjson(store, url, validations);
  return url;
}

export const readSegmentValidations = (store: ObjectStore, url: string) => readAllNdjson(store, url, LINES);
