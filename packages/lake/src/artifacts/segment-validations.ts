import { segmentValidationSchema, type SegmentValidation } from '@musicflow/contracts';
import { joinUrl, type ObjectStore } from '@musicflow/storage';
import { readAllNdjson, writeNdjson, type NdjsonArtifact } from './ndjson.ts';

/** What validation found in each segment of a chunk (counts, reasons, quarantine), the validator's hand-off to the transformer. */
const SEGMENT_VALIDATIONS: NdjsonArtifact<SegmentValidation> = { name: 'segment-validations', version: 1, schema: segmentValidationSchema };

export const segmentValidationsUrl = (lake: string, runId: string, chunkId: string) =>
  joinUrl(lake, 'tmp', `run=${runId}`, 'valid', `${chunkId}.validations.ndjson`);

export const writeSegmentValidations = (store: ObjectStore, url: string, validations: readonly SegmentValidation[]) =>
  writeNdjson(store, url, SEGMENT_VALIDATIONS, validations);

export const readSegmentValidations = (store: ObjectStore, url: string) => readAllNdjson(store, url, SEGMENT_VALIDATIONS);
