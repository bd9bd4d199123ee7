import { Readable } from 'node:stream';
import { runFileSchema, type RunContext, type RunFile } from '@musicflow/contracts';
import { readLines, type ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';

/** Every stream file's outcome in the run, for the loader's analytics.etl_run_files. */
export const RUN_FILES: RunArtifact = {
  path: 'tmp/run=<run>/files.ndjson',
  format: 'one JSON object per line (RunFile in @musicflow/contracts)',
  version: 1,
  writers: ['kpi', 'recompute'],
  readers: ['load'],
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

/** The file outcomes at `url` (`writeRunFiles`), one at a time. */
export async function* readRunFiles(store: ObjectStore, url: string): AsyncGenerator<RunFile> {
  for await (const line of readLines(store, url)) {
    if (line) yield runFileSchema.parse(JSON.parse(line));
  }
}
