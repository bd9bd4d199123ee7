/**
 * The headers a run found in its sources, kept with the run's temporaries
 * until the loader compares them with the previous run's (schema drift): the
 * plan job writes the stream files' (from its own tally and those of the
 * validators, which read the headers of the small files it did not), each
 * catalogue job its table's, also when the source is then refused for a
 * missing column.
 */
import { SCHEMA_SOURCES, sourceHeadersSchema, type RunContext, type SourceHeaders } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';

/** The distinct headers of one source the run read, for the loader's schema drift. */
export const SOURCE_HEADERS: RunArtifact = {
  path: 'tmp/run=<run>/headers/<streams|users|songs>.json',
  format: 'JSON, SourceHeaders in @musicflow/contracts',
  version: 1,
  writers: ['plan', 'catalogue'],
  readers: ['load'],
};

/** The stream headers one job read (the plan's, or a chunk's validator's), merged by the plan once every chunk is validated. */
export const STREAM_HEADER_TALLIES: RunArtifact = {
  path: 'tmp/run=<run>/headers/streams/<plan|chunk>.json',
  format: 'JSON, the headers of SourceHeaders in @musicflow/contracts',
  version: 1,
  writers: ['plan', 'validate'],
  readers: ['plan'],
};

/** Distinct headers a source keeps in one run: a folder whose files all differ is one drift told many times. */
export const MAX_SOURCE_HEADERS = 20;
/** Files named per header. */
export const HEADER_EXAMPLES = 3;

/** A run's distinct headers of one source, gathered as they are read. */
export class HeaderTally {
  private readonly byKey = new Map<string, SourceHeaders['headers'][number]>();
  /** The entry counted last. */
  private last?: SourceHeaders['headers'][number];

  add(columns: readonly string[], file: string): void {
    this.count(columns, 1, [file]);
  }

  /** Another tally's entries, as far as this one's bounds take them. */
  merge(headers: SourceHeaders['headers']): void {
    for (const { columns, files, examples } of headers) this.count(columns, files, examples);
  }

  private count(columns: readonly string[], files: number, examples: readonly string[]): void {
    // A day of small files is mostly one header again and again: known by its columns, not by a key made a file.
    let entry = this.last && sameColumns(this.last.columns, columns) ? this.last : undefined;
    if (!entry) {
      const key = JSON.stringify(columns);
      entry = this.byKey.get(key);
      if (!entry) {
        if (this.byKey.size >= MAX_SOURCE_HEADERS) return;
        this.byKey.set(key, (entry = { columns: [...columns], files: 0, examples: [] }));
      }
    }
    this.last = entry;
    entry.files += files;
    if (entry.examples.length < HEADER_EXAMPLES) entry.examples.push(...examples.slice(0, HEADER_EXAMPLES - entry.examples.length));
  }

  get size(): number {
    return this.byKey.size;
  }

  headers(): SourceHeaders['headers'] {
    return [...this.byKey.values()];
  }
}

const sameColumns = (a: readonly string[], b: readonly string[]) => a.length === b.length && a.every((c, i) => c === b[i]);

export async function writeSourceHeaders(store: ObjectStore, run: RunContext, headers: SourceHeaders): Promise<void> {
  await store.write(LAKE_LAYOUT.sourceHeaders(run.lake, run.runId, headers.source), JSON.stringify(headers));
}

/** The headers the run's jobs recorded, source by source; a source not read (a failed plan, a recompute) is absent. */
export async function readSourceHeaders(store: ObjectStore, run: RunContext): Promise<SourceHeaders[]> {
  const found: SourceHeaders[] = [];
  for (const source of SCHEMA_SOURCES) {
    const url = LAKE_LAYOUT.sourceHeaders(run.lake, run.runId, source);
    if (await store.head(url)) found.push(sourceHeadersSchema.parse(JSON.parse((await store.readBuffer(url)).toString('utf8'))));
  }
  return found;
}

const streamTallySchema = sourceHeadersSchema.shape.headers;

/** Writes the stream headers one job read (`part`: `plan` or the chunk's id); returns their URL. */
export async function writeStreamHeaderTally(store: ObjectStore, run: RunContext, part: string, tally: HeaderTally): Promise<string> {
  const url = LAKE_LAYOUT.streamHeaderTally(run.lake, run.runId, part);
  await store.write(url, JSON.stringify(tally.headers()));
  return url;
}

/** The stream files' headers of the run, from the tallies its jobs wrote (in the order given), for the loader. */
export async function mergeStreamHeaderTallies(store: ObjectStore, run: RunContext, urls: readonly string[]): Promise<void> {
  const merged = new HeaderTally();
  for (const url of urls) merged.merge(streamTallySchema.parse(JSON.parse((await store.readBuffer(url)).toString('utf8'))));
  if (merged.size) await writeSourceHeaders(store, run, { source: 'streams', url: run.sources.streams, headers: merged.headers() });
}
