import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { readLines, type ObjectInfo, type ObjectStore } from '@musicflow/storage';

/**
 * The format of the run artifacts that list records (a chunk's segments, its
 * outcomes, the files a plan rejected): JSON lines, the first naming the
 * artifact and its version, so a reader meeting another version (a worker of
 * another release mid-run) says so instead of misreading it.
 */
export interface NdjsonArtifact<T> {
  name: string;
  version: number;
  /** A zod schema of one record (the contracts' schemas). */
  schema: RecordSchema<T>;
}

type RecordSchema<T> = {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
};

const headerLine = (artifact: NdjsonArtifact<unknown>) => `${JSON.stringify({ artifact: artifact.name, version: artifact.version })}\n`;

/** Writes `records` as `artifact` to `url`, streamed: never all of them in memory at once. */
export function writeNdjson<T>(store: ObjectStore, url: string, artifact: NdjsonArtifact<T>, records: Iterable<T> | AsyncIterable<T>): Promise<ObjectInfo> {
  return store.write(
    url,
    Readable.from(
      (async function* () {
        yield headerLine(artifact);
        for await (const record of records) yield `${JSON.stringify(record)}\n`;
      })(),
    ),
  );
}

/** A writer of `artifact` fed one record at a time (the plan, as it lists); `end` waits for the object to be whole. */
export class NdjsonWriter<T> {
  private readonly body = new PassThrough();
  private readonly upload: Promise<ObjectInfo>;
  count = 0;

  constructor(
    store: ObjectStore,
    artifact: NdjsonArtifact<T>,
    readonly url: string,
  ) {
    this.upload = store.write(url, this.body);
    this.upload.catch(() => undefined);
    this.body.write(headerLine(artifact));
  }

  async add(record: T): Promise<void> {
    this.count++;
    if (!this.body.write(`${JSON.stringify(record)}\n`)) await once(this.body, 'drain');
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
  let line = 0;
  for await (const text of readLines(store, url)) {
    line++;
    if (!text) continue;
    const value = parseLine(text, url, line);
    if (line === 1) {
      const header = value as { artifact?: unknown; version?: unknown };
      if (header.artifact !== artifact.name || header.version !== artifact.version) {
        throw new Error(`${url}: not a ${artifact.name} artifact of version ${artifact.version} (its first line is ${text.slice(0, 200)})`);
      }
      continue;
    }
    const parsed = artifact.schema.safeParse(value);
    if (!parsed.success)
      throw new Error(
        `${url}:${line}: not a ${artifact.name} record: ${parsed.error.issues.map((i) => `${i.path.map(String).join('.')}: ${i.message}`).join('; ')}`,
      );
    yield parsed.data;
  }
  if (line === 0) throw new Error(`${url}: empty, not a ${artifact.name} artifact`);
}

function parseLine(text: string, url: string, line: number): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${url}:${line}: not JSON: ${(err as Error).message}`);
  }
}

/** Every record of a small artifact (one chunk's), in an array. */
export async function readAllNdjson<T>(store: ObjectStore, url: string, artifact: NdjsonArtifact<T>): Promise<T[]> {
  const records: T[] = [];
  for await (const record of readNdjson(store, url, artifact)) records.push(record);
  return records;
}
