import { Readable } from 'node:stream';
import { runFileSchema, type RunContext, type RunFile } from '@musicflow/contracts';
import { readLines, type ByteRange, type ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';

/** Every stream file's outcome in the run, for the loader's analytics.etl_run_files and the archive's slices. */
export const RUN_FILES: RunArtifact = {
  path: 'tmp/run=<run>/files.ndjson',
  format: 'one JSON object per line (RunFile in @musicflow/contracts)',
  version: 1,
  writers: ['kpi', 'recompute'],
  readers: ['load', 'archive'],
};

/** Writes the run's file outcomes (none for a recompute); returns their URL. */
export async function writeRunFiles(store: ObjectStore, run: RunContext, files: Iterable<RunFile> | AsyncIterable<RunFile>): Promise<string> {
  const url = LAKE_LAYOUT.runFiles(run.lake, run.runId);
  await store.write(url, Readable.from(lines(files)));
  return url;
}

async function* lines(files: Iterable<RunFile> | AsyncIterable<RunFile>): AsyncGenerator<string> {
  for await (const file of files) yield `${JSON.stringify(file)}\n`;
}

/** The file outcomes at `url` (`writeRunFiles`), or in a range of it cut at line ends (a slice), one at a time. */
export async function* readRunFiles(store: ObjectStore, url: string, range?: ByteRange): AsyncGenerator<RunFile> {
  for await (const line of readLines(store, url, range)) {
    if (line) yield runFileSchema.parse(JSON.parse(line));
  }
}

/** A byte range of the file list holding `loaded` loaded files: one archive job's share. */
export interface LoadedFilesSlice extends ByteRange {
  loaded: number;
}

/** The file list at `url` cut at line ends into ranges of `loadedPerSlice` loaded files each (the last may hold fewer), read once. */
export async function* loadedFilesSlices(store: ObjectStore, url: string, loadedPerSlice: number): AsyncGenerator<LoadedFilesSlice> {
  let start = 0;
  let end = 0;
  let loaded = 0;
  for await (const line of readLines(store, url)) {
    end += Buffer.byteLength(line) + 1;
    if (!line || runFileSchema.parse(JSON.parse(line)).status !== 'loaded') continue;
    if (++loaded < loadedPerSlice) continue;
    yield { start, end, loaded };
    [start, loaded] = [end, 0];
  }
  if (loaded) yield { start, end, loaded };
}
