import { PassThrough } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import pMap from 'p-map';
import type { CatalogueShard, CatalogueTable, FileQuarantine, RunContext, Segment } from '@musicflow/contracts';
import { basename, moveOnce, readConcatenated, type ObjectStore } from '@musicflow/storage';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';

export const QUARANTINE_HEADER = ['file', 'line', 'reason', 'field', 'value', 'row'] as const;

/**
 * Bad rows with file, line and reason, streamed to one CSV object. The object
 * is only created when the first bad row arrives.
 */
export class QuarantineWriter {
  private out?: PassThrough;
  private upload?: Promise<unknown>;
  count = 0;

  constructor(
    private readonly store: ObjectStore,
    readonly url: string,
    private readonly file: string,
    private readonly withHeader = true,
  ) {}

  async add(line: number, reason: string, field: string, value: string, row: readonly string[]): Promise<void> {
    if (!this.out) {
      this.out = new PassThrough();
      this.upload = this.store.write(this.url, this.out);
      this.upload.catch(() => undefined);
      if (this.withHeader) this.out.write(stringify([QUARANTINE_HEADER]));
    }
    this.count++;
    const text = stringify([[this.file, line, reason, field, value, stringify([row]).trimEnd()]]);
    if (!this.out.write(text)) await new Promise((resolve) => this.out!.once('drain', resolve));
  }

  /** Finishes the object; returns its URL, or undefined when no row was bad. */
  async close(): Promise<string | undefined> {
    if (!this.out) return undefined;
    this.out.end();
    await this.upload;
    return this.url;
  }

  abort(err: Error): void {
    this.out?.destroy(err);
  }
}

const QUARANTINE_CSV = `CSV with the header ${QUARANTINE_HEADER.join(',')}; row is the bad record as CSV`;

/** Bad rows, with file, line and reason (SPEC 2). */
export const QUARANTINE: Record<'segment' | 'file' | 'catalogueShard', RunArtifact> = {
  /** One segment's bad rows; a file of one segment has its header, a big file's segments none (they are joined under one). */
  segment: { path: 'tmp/run=<run>/quarantine/<file>+<segment>.csv', format: QUARANTINE_CSV, version: 1, writers: ['validate'], readers: ['commit'] },
  /** A stream file's bad rows (gathered by the commit), or a catalogue table's (`<file>` is `users` or `songs`). */
  file: { path: 'quarantine/run=<run>/<file>.csv', format: QUARANTINE_CSV, version: 1, writers: ['commit', 'catalogue', 'plan', 'recompute'], readers: [] },
  /** One of a table's several catalogue jobs' bad rows, without a header, gathered into the table's `file` by the job that waits for them. */
  catalogueShard: {
    path: 'tmp/run=<run>/quarantine/catalogue/<table>+<shard>.csv',
    format: `${QUARANTINE_CSV}, without the header`,
    version: 1,
    writers: ['catalogue'],
    readers: ['plan', 'recompute'],
  },
};

/** The quarantine of one segment of a stream file. */
export const segmentQuarantineOf = (store: ObjectStore, run: RunContext, segment: Segment) =>
  new QuarantineWriter(
    store,
    LAKE_LAYOUT.segmentQuarantine(run.lake, run.runId, segment.fileId, segment.index),
    basename(segment.fileUrl),
    // A file of one segment: its quarantine is moved into place whole; a big file's segments are joined under one header.
    segment.count === 1,
  );

/**
 * The quarantine of a catalogue table; `source` names the file (or `rds`) in its rows. A table looked up in
 * several jobs has one a shard, without a header, gathered into the table's by `joinCatalogueShards`.
 */
export const catalogueQuarantineOf = (store: ObjectStore, run: RunContext, table: CatalogueTable, source: string, shard: CatalogueShard) =>
  shard.count === 1
    ? new QuarantineWriter(store, LAKE_LAYOUT.quarantine(run.lake, run.runId, table), source)
    : new QuarantineWriter(store, LAKE_LAYOUT.catalogueShardQuarantine(run.lake, run.runId, table, shard.index), source, false);

/** Objects moved or gathered at once: thousands of small files are mostly waiting on the store. */
const GATHER_CONCURRENCY = 16;

/**
 * One CSV per source file under `quarantine/run=<id>/`, gathered from its
 * segments' (`urls`, in segment order); a file of one segment has its
 * quarantine whole already (header included) and is moved, not copied: a
 * day of small files is hundreds of them.
 */
export async function gatherFileQuarantines(store: ObjectStore, run: RunContext, files: readonly FileQuarantine[]): Promise<void> {
  await pMap(
    files,
    async ({ fileId, segments, urls }) => {
      if (!urls.length) return;
      const target = LAKE_LAYOUT.quarantine(run.lake, run.runId, fileId);
      if (segments === 1) return moveOnce(store, urls[0]!, target);
      await store.write(target, readConcatenated(store, urls, `${QUARANTINE_HEADER.join(',')}\n`));
    },
    { concurrency: GATHER_CONCURRENCY },
  );
}
