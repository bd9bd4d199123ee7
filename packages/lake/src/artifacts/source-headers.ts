/**
 * The headers a run found in its sources, kept with the run's temporaries
 * until the loader compares them with the previous run's (schema drift): the
 * plan job writes the stream files', each catalogue job its table's, also when
 * the source is then refused for a missing column.
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

/** Distinct headers a source keeps in one run: a folder whose files all differ is one drift told many times. */
export const MAX_SOURCE_HEADERS = 20;
/** Files named per header. */
export const HEADER_EXAMPLES = 3;

/** A run's distinct headers of one source, gathered as they are read. */
export class HeaderTally {
  private readonly byKey = new Map<string, SourceHeaders['headers'][number]>();

  add(columns: readonly string[], file: string): void {
    const key = JSON.stringify(columns);
    let entry = this.byKey.get(key);
    if (!entry) {
      if (this.byKey.size >= MAX_SOURCE_HEADERS) return;
      this.byKey.set(key, (entry = { columns: [...columns], files: 0, examples: [] }));
    }
    entry.files++;
    if (entry.examples.length < HEADER_EXAMPLES) entry.examples.push(file);
  }

  get size(): number {
    return this.byKey.size;
  }

  headers(): SourceHeaders['headers'] {
    return [...this.byKey.values()];
  }
}

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
