import { rejectedFileSchema, type RejectedFile } from '@musicflow/contracts';
import { joinUrl, type ObjectStore } from '@musicflow/storage';
import { NdjsonWriter, readNdjson, type NdjsonArtifact } from './ndjson.ts';

/** The stream files the plan rejected before reading a row (no header, a bound broken, a link skipped), written as the listing goes. */
const PLANNED_OUT_FILES: NdjsonArtifact<RejectedFile> = { name: 'planned-out-files', version: 1, schema: rejectedFileSchema };

export const plannedOutFilesUrl = (lake: string, runId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'planned-out.ndjson');

export const plannedOutFilesWriter = (store: ObjectStore, url: string) => new NdjsonWriter(store, PLANNED_OUT_FILES, url);

export const readPlannedOutFiles = (store: ObjectStore, url: string) => readNdjson(store, url, PLANNED_OUT_FILES);
