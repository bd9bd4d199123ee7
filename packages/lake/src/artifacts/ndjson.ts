import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { readLines, type ObjectInfo, type ObjectStore } from '@musicflow/storage';

/**
 * The run artifacts that list records (a chunk's segments, validations and
 * outcomes, the files a plan rejected) are JSON lines, one record a line,
 * each checked against its schema when read back.
 */
export interface NdjsonArtifact<T> {
  name: string;
  /** A zod schema of one record (the contracts' schemas). */
  schema: RecordSchema<T>;
}

type RecordSchema<T> = {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
};

const line = (record: unknown) => `${JSON.stringify(record)}\n`;

/** Writes `records` to `url`, streamed: never all of them in memory at once. */
export function writeNdjson<T>(store: ObjectStore, url: string, records: Iterable<T> | AsyncIterable<T>): Promise<ObjectInfo> {
  return store.write(
    url,
    Readable.from(
      (async function* () {
        for await (const record of records) yield line(record);
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
    if (!this.body.write(line(record))) await once(this.body, 'drain');
  }

  async end(): Promise<ObjectInfo> {
    this.body.end();
    return this.upload;
  }

  abort(err: Error): void {
    this.body.destroy(err);
  }
}

/** The records of `artifact` at `url`, one at a time, each checked against its schema. */
export async function* readNdjson<T>(store: ObjectStore, url: string, artifact: NdjsonArtifact<T>): AsyncGenerator<T> {
  let n = 0;
  for await (const text of readLines(store, url)) {
    n++;
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
    yield parsed.data;
  }
}

/** Every record of a small artifact (one chunk's), in an array. */
export async function readAllNdjson<T>(store: ObjectStore, url: string, artifact: NdjsonArtifact<T>): Promise<T[]> {
  const records: T[] = [];
  for await (const record of readNdjson(store, url, artifact)) records.push(record);
  return records;
}
