import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { readLineBatches, type ByteRange, type ObjectInfo, type ObjectStore } from '@musicflow/storage';

/**
 * The run artifacts that list records a run writes few of, or a chunk at a
 * time (a chunk's outcomes, the files a plan rejected, quarantines,
 * duplicates), are JSON lines, one record a line, each checked against its
 * schema when read back. Those written a record a small file are binary
 * (records.ts).
 */
export interface NdjsonArtifact<T> {
  name: string;
  /** A zod schema of one record (the contracts' schemas). */
  schema: RecordSchema<T>;
}

type RecordSchema<T> = {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
};

/** A record's line. */
export const ndjsonLine = (record: unknown) => `${JSON.stringify(record)}\n`;

/** Characters of lines written as one piece: a piece a line was a step through the stream a file of a chunk. */
const PIECE_CHARS = 64 << 10;

/** Writes `records` to `url`, streamed in pieces of many lines: never all of them in memory at once. */
export function writeNdjson<T>(store: ObjectStore, url: string, records: Iterable<T>): Promise<ObjectInfo> {
  return store.write(
    url,
    Readable.from(
      (function* () {
        let piece = '';
        for (const record of records) {
          piece += ndjsonLine(record);
          if (piece.length >= PIECE_CHARS) {
            yield piece;
            piece = '';
          }
        }
        if (piece) yield piece;
      })(),
    ),
  );
}

/** A writer fed one record at a time (the plan, as it lists); `end` waits for the object to be whole. */
export class NdjsonWriter<T> {
  private readonly body = new PassThrough();
  private readonly upload: Promise<ObjectInfo>;
  count = 0;

  constructor(
    store: ObjectStore,
    readonly url: string,
  ) {
    this.upload = store.write(url, this.body);
    this.upload.catch(() => undefined);
  }

  async add(record: T): Promise<void> {
    this.count++;
    if (!this.body.write(ndjsonLine(record))) await once(this.body, 'drain');
  }

  async end(): Promise<ObjectInfo> {
    this.body.end();
    return this.upload;
  }

  abort(err: Error): void {
    this.body.destroy(err);
  }
}

/** Records `readNdjsonBatches` gives at once. */
const RECORDS_PER_BATCH = 256;

/**
 * The records of `artifact` at `url` (or in a range of it cut at line ends), each checked against its schema
 * (a line number counted from the range's start), at most RECORDS_PER_BATCH at a time: a chunk's
 * artifacts hold a line a file, and a step through the event loop a line cost more than the line.
 */
export async function* readNdjsonBatches<T>(store: ObjectStore, url: string, artifact: NdjsonArtifact<T>, range?: ByteRange): AsyncGenerator<T[]> {
  let n = 0;
  for await (const lines of readLineBatches(store, url, range)) {
    let records: T[] = [];
    for (const text of lines) {
      n++;
      // Records handed on RECORDS_PER_BATCH at a time, each parsed as its batch is taken: a read's worth at once
      // (thousands) outlived the young generation, and collecting them was most of reading a chunk's outcomes.
      if (records.length === RECORDS_PER_BATCH) {
        yield records;
        records = [];
      }
      if (!text) continue;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        throw new Error(`${url}:${n}: not JSON: ${(err as Error).message}`);
      }
      const parsed = artifact.schema.safeParse(value);
      if (!parsed.success)
        throw new Error(
          `${url}:${n}: not a ${artifact.name} record: ${parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ')}`,
        );
      records.push(parsed.data);
    }
    if (records.length) yield records;
  }
}
