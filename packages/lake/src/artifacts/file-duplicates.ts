import { fileDuplicatesSchema, type FileDuplicates, type FileDuplicatesArtifact, type RunContext } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';
import { readNdjsonBatches, writeNdjson, type NdjsonArtifact } from './ndjson.ts';

/**
 * A date's (or a pass's) duplicate events per source file of the run: the
 * counts of a re-delivered file's rows stay out of job results (Redis), and
 * the load reads them back in bounded shares as it writes the run's files to
 * the warehouse (`runFilesWithDuplicates`).
 */
export const FILE_DUPLICATES: RunArtifact = {
  path: 'tmp/run=<run>/kpis/duplicates-<date>-pass<p>of<n>.ndjson',
  format: 'JSON lines, one FileDuplicates (@musicflow/contracts) a line',
  version: 1,
  writers: ['kpi-date', 'kpi-pass'],
  readers: ['load'],
};

const LINES: NdjsonArtifact<FileDuplicates> = { name: 'file duplicates', schema: fileDuplicatesSchema };

/** Writes a date's or pass's duplicates by file id; none, no artifact. */
export async function writeFileDuplicates(
  store: ObjectStore,
  run: RunContext,
  at: { listenDate: string; pass: number; count: number },
  duplicateByFile: ReadonlyMap<string, number>,
): Promise<FileDuplicatesArtifact | undefined> {
  if (!duplicateByFile.size) return undefined;
  const url = LAKE_LAYOUT.fileDuplicates(run.lake, run.runId, at.listenDate, at.pass, at.count);
  await writeNdjson(
    store,
    url,
    (function* () {
      for (const [fileId, duplicate] of duplicateByFile) yield { fileId, duplicate };
    })(),
  );
  return { url, files: duplicateByFile.size };
}

/** The duplicates of the files `wanted` keeps, summed over `artifacts` (a file's events may span dates and passes). */
export async function readFileDuplicates(
  store: ObjectStore,
  artifacts: readonly FileDuplicatesArtifact[],
  wanted: (fileId: string) => boolean,
): Promise<Map<string, number>> {
  const sums = new Map<string, number>();
  for (const { url } of artifacts) {
    for await (const lines of readNdjsonBatches(store, url, LINES)) {
      for (const { fileId, duplicate } of lines) if (wanted(fileId)) sums.set(fileId, (sums.get(fileId) ?? 0) + duplicate);
    }
  }
  return sums;
}
