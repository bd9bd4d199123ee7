import { rejectedFileSchema, type RejectedFile, type RunContext } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { NdjsonWriter, readNdjsonBatches, type NdjsonArtifact } from './ndjson.ts';

/** The stream files the plan rejected before reading a row (no header, a bound broken, a link skipped), written as the listing goes. */
export const PLANNED_OUT_FILES: RunArtifact = {
  path: 'tmp/run=<run>/planned-out.ndjson',
  format: 'JSON lines, one RejectedFile (@musicflow/contracts) a line',
  version: 1,
  writers: ['plan'],
  readers: ['commit'],
};

const LINES: NdjsonArtifact<RejectedFile> = { name: 'planned-out-files', schema: rejectedFileSchema };

/** A writer of the run's planned-out files, fed one at a time. */
export const plannedOutFilesWriter = (store: ObjectStore, run: RunContext) =>
  new NdjsonWriter<RejectedFile>(store, LAKE_LAYOUT.plannedOutFiles(run.lake, run.runId));

/** The files the plan left out, in batches (`readNdjsonBatches`). */
export const readPlannedOutFiles = (store: ObjectStore, url: string) => readNdjsonBatches(store, url, LINES);
