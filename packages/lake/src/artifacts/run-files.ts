import { Readable } from 'node:stream';
import { runFileSchema, type RunContext, type RunFile } from '@musicflow/contracts';
import { readLineBatches, type ByteRange, type ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { ndjsonLine, readNdjsonBatches, type NdjsonArtifact } from './ndjson.ts';

/** Every stream file's outcome in the run, for the loader's analytics.etl_run_files and the archive's slices. */
export const RUN_FILES: RunArtifact = {
  path: 'tmp/run=<run>/files.ndjson',
  format: 'one JSON object per line (RunFile in @musicflow/contracts)',
  version: 1,
  writers: ['kpi', 'recompute'],
  readers: ['load', 'archive'],
};

/** Writes the run's file outcomes (none for a recompute), given in batches; returns their URL. */
export async function writeRunFiles(store: ObjectStore, run: RunContext, files: Iterable<RunFile[]> | AsyncIterable<RunFile[]>): Promise<string> {
  const url = LAKE_LAYOUT.runFiles(run.lake, run.runId);
  await store.write(url, Readable.from(lines(files)));
  return url;
}

/** A batch's lines as one piece: a piece a line was a step through the stream a file. */
async function* lines(files: Iterable<RunFile[]> | AsyncIterable<RunFile[]>): AsyncGenerator<string> {
  for await (const batch of files) if (batch.length) yield batch.map(ndjsonLine).join('');
}

const LINES: NdjsonArtifact<RunFile> = { name: 'run-files', schema: runFileSchema };

/** The file outcomes at `url` (`writeRunFiles`), or in a range of it cut at line ends (a slice), in batches (`readNdjsonBatches`). */
export const readRunFiles = (store: ObjectStore, url: string, range?: ByteRange) => readNdjsonBatches(store, url, LINES, range);

/** A byte range of the file list holding `loaded` loaded files: one archive job's share. */
export interface LoadedFilesSlice extends ByteRange {
  loaded: number;
}

/** The file list at `url` cut at line ends into ranges of `loadedPerSlice` loaded files each (the last may hold fewer), read once. */
export async function* loadedFilesSlices(store: ObjectStore, url: string, loadedPerSlice: number): AsyncGenerator<LoadedFilesSlice> {
  let start = 0;
  let end = 0;
  let loaded = 0;
  for await (const lines of readLineBatches(store, url)) {
    const slices: LoadedFilesSlice[] = [];
    for (const line of lines) {
      end += Buffer.byteLength(line) + 1;
      if (!line || runFileSchema.parse(JSON.parse(line)).status !== 'loaded') continue;
      if (++loaded < loadedPerSlice) continue;
      slices.push({ start, end, loaded });
      [start, loaded] = [end, 0];
    }
    yield* slices;
  }
  if (loaded) yield { start, end, loaded };
}
