import { createHash } from 'node:crypto';
import { STREAM_FILE, type Chunk, type RejectedFile, type Segment } from '@musicflow/contracts';
import {
  csvByteBatches,
  FileBoundError,
  HEADER_SCAN_BYTES,
  openStreamFile,
  reasonText,
  recordFields,
  scanStreamFile,
  streamHeaderProblem,
  UNREADABLE_REASON,
  WHOLE_READ_BYTES,
  type FileBounds,
} from '@musicflow/ingest';
import { isPermissionError, relativeKey, type ListOptions, type ObjectInfo, type ObjectStore, type SkippedEntry } from '@musicflow/storage';

/** Longest file id: the lake's names add at most 18 characters to it (`.part-0000.parquet`), and a name must fit in 255 bytes. */
export const MAX_FILE_ID = 160;
const ID_DIGEST_CHARS = 8;

/**
 * `in/2024/streams1.csv.gz` → `in__2024__streams1`: stable, safe in object names. An id over
 * MAX_FILE_ID characters (long nested folder names) keeps its start, then `~` and 8 hex digits of
 * the whole id's SHA-1: `~` is in no other id, so a cut id never meets an uncut one.
 */
export function fileIdOf(streamsUrl: string, url: string): string {
  // URLs percent-encode: `day 1/` must give `day_1`, not `day_201`.
  const id = keyOf(streamsUrl, url)
    .replace(STREAM_FILE, '')
    .replace(/\//g, '__')
    .replace(/[^A-Za-z0-9._=-]/g, '_');
  if (id.length <= MAX_FILE_ID) return id;
  const digest = createHash('sha1').update(id).digest('hex').slice(0, ID_DIGEST_CHARS);
  return `${id.slice(0, MAX_FILE_ID - ID_DIGEST_CHARS - 1)}~${digest}`;
}

/** A stream file's key under its folder, as text: `day%201/a.csv` → `day 1/a.csv`. */
const keyOf = (streamsUrl: string, url: string) => decodeURIComponent(relativeKey(streamsUrl, url));

/** What planning holds a stream file to, besides CHUNK_BYTES (the MAX_* settings). */
export type PlanBounds = FileBounds & { maxKeyBytes: number };

/** A rejected file carries its header when it was read (for schema drift). */
export type PlannedFile = { segments: Segment[] } | { rejected: RejectedFile; header?: string[] };

/**
 * Plans a stream file into segments of equal size, at most about `chunkBytes`, at record boundaries, numbering
 * lines so every segment reports file line numbers. A file of at most WHOLE_READ_BYTES that is one chunk is not
 * read here: it is one segment from its first byte, without a header, whose validator reads it whole anyway and
 * checks its header there, so planning a day of thousands of small files reads none of them. Any other file is
 * read to check its header and find its cuts; a `.gz` file is one segment (it cannot be entered mid-way).
 */
export async function planStreamFile(store: ObjectStore, streamsUrl: string, file: ObjectInfo, chunkBytes: number, bounds?: PlanBounds): Promise<PlannedFile> {
  const fromListing = planFromListing(streamsUrl, file, chunkBytes, bounds);
  if (fromListing) return fromListing;
  const reject = (...reasons: string[]): PlannedFile => ({ rejected: { file: file.url, reasons } });
  const fileId = fileIdOf(streamsUrl, file.url);
  const gzip = /\.gz$/i.test(file.url);

  let header: string[];
  let ranges: { start: number; end: number; firstLine: number }[];
  if (gzip) {
    let first: string[] | undefined;
    try {
      const range = { start: 0, end: file.size };
      // The header's column count is checked below, naming MAX_COLUMNS: only the record length is bounded here.
      const recordBounds = { maxRecordBytes: bounds?.maxRecordBytes ?? Infinity, maxColumns: Infinity };
      for await (const batch of csvByteBatches(await openStreamFile(store, file.url, { gzip, range, inflate: bounds }), 1, recordBounds)) {
        first = recordFields(batch, 0).map((f) => f.trim());
        break;
      }
    } catch (err) {
      if (err instanceof FileBoundError) return reject(err.message);
      if (isPermissionError(err)) return reject(UNREADABLE_REASON);
      return reject(`cannot read as gzip CSV: ${reasonText((err as Error).message)}`);
    }
    if (!first) return reject('empty file: a header row is required');
    header = first;
    // Every segment's job carries the header: a bound on it is a bound on job data too.
    const problem = streamHeaderProblem(header, bounds?.maxColumns);
    if (problem) return header.length > (bounds?.maxColumns ?? Infinity) ? reject(problem) : { ...reject(problem), header };
    ranges = [{ start: 0, end: file.size, firstLine: 1 }];
  } else {
    // As many chunks as CHUNK_BYTES asks for, of equal size: a 49 MB file in 32 MiB pieces would leave a
    // 16 MB chunk running alone at the end of a run.
    const equalShare = equalShareOf(file.size, chunkBytes);
    // A file of one chunk is read only as far as its header; the validator reads the rest.
    const bytes = await (
      file.size <= equalShare ? store.readBuffer(file.url, { start: 0, end: Math.min(file.size, HEADER_SCAN_BYTES) }) : store.read(file.url)
    ).catch((err: unknown) => {
      if (isPermissionError(err)) return undefined;
      throw err;
    });
    if (bytes === undefined) return reject(UNREADABLE_REASON);
    const scan = await scanStreamFile(bytes, equalShare, file.size, bounds);
    if ('reason' in scan) return scan.header ? { ...reject(scan.reason), header: scan.header } : reject(scan.reason);
    header = scan.header;
    ranges = scan.ranges;
  }

  return {
    segments: ranges.map((r, index) => ({ fileId, fileUrl: file.url, index, count: ranges.length, ...r, header, gzip })),
  };
}

/** The size of each of the equal chunks CHUNK_BYTES cuts a file of `size` into. */
const equalShareOf = (size: number, chunkBytes: number) => Math.max(1, Math.ceil(size / Math.ceil(size / chunkBytes)));

/**
 * `planStreamFile` of a file planned from its listing entry alone, with no step through the event loop (a day
 * of 100k small files is mostly these): its name rejected, or a small uncompressed file of one chunk, one
 * segment whose validator checks its header. Undefined when the file must be read.
 */
export function planFromListing(streamsUrl: string, file: ObjectInfo, chunkBytes: number, bounds?: PlanBounds): PlannedFile | undefined {
  const keyBytes = Buffer.byteLength(keyOf(streamsUrl, file.url));
  if (bounds && keyBytes > bounds.maxKeyBytes) {
    return {
      rejected: {
        file: file.url,
        reasons: [`name_too_long: its name under the streams folder is ${keyBytes} bytes, over MAX_FILE_KEY_BYTES (${bounds.maxKeyBytes})`],
      },
    };
  }
  const gzip = /\.gz$/i.test(file.url);
  if (gzip || file.size > Math.min(equalShareOf(file.size, chunkBytes), WHOLE_READ_BYTES)) return undefined;
  return { segments: [{ fileId: fileIdOf(streamsUrl, file.url), fileUrl: file.url, index: 0, count: 1, start: 0, end: file.size, firstLine: 1, gzip }] };
}

/** The stream files of a folder for the plan, and the size of the packs their small files go into. */
export interface StreamListing {
  packBytes: number;
  /** The files `wanted` keeps, in key order: those held while the pack size was set, then the rest as they are listed. */
  files: AsyncIterable<ObjectInfo>;
}

/**
 * Lists `streams` once: holds up to `sizedFiles` files `wanted` keeps to set the pack size, then hands them
 * out and goes on listing. What is left out is told to `skipped` as the listing meets it.
 */
export async function listStreamFiles(
  store: ObjectStore,
  streams: string,
  options: Pick<ListOptions, 'links'> & {
    wanted: (file: ObjectInfo) => boolean;
    skipped: (entry: SkippedEntry) => void;
    chunkBytes: number;
    sizedFiles?: number;
  },
): Promise<StreamListing> {
  const { links, wanted, skipped, chunkBytes, sizedFiles = PACK_SIZED_FILES } = options;
  const listed = store.list(streams, { links, skipped })[Symbol.asyncIterator]();
  const held: ObjectInfo[] = [];
  let totalBytes = 0;
  let ended = false;
  try {
    while (held.length < sizedFiles) {
      const next = await listed.next();
      if (next.done) {
        ended = true;
        break;
      }
      if (!wanted(next.value)) continue;
      held.push({ url: next.value.url, size: next.value.size });
      totalBytes += next.value.size;
    }
  } catch (err) {
    await listed.return?.();
    throw err;
  }
  return {
    packBytes: ended ? packBytesFor(totalBytes, chunkBytes) : chunkBytes,
    files: (async function* () {
      try {
        yield* held;
        held.length = 0;
        if (ended) return;
        for (let next = await listed.next(); !next.done; next = await listed.next()) if (wanted(next.value)) yield next.value;
      } finally {
        if (!ended) await listed.return?.();
      }
    })(),
  };
}

const segmentBytes = (s: Segment) => s.end - s.start;

/**
 * Chunks of work from the run's segments, given in order: a segment of at
 * least `packBytes` is a chunk of its own; smaller ones (small files) are
 * packed together, in order, up to `packBytes` and at most
 * MAX_SEGMENTS_PER_CHUNK, so thousands of small files cost a few jobs, not
 * thousands. Chunks come out as soon as they are closed, so their jobs can
 * start while later files are still being planned. Ids derive from the
 * segments, so planning again gives the same chunks.
 */
export class ChunkPacker {
  private pack: Segment[] = [];
  private packed = 0;

  constructor(private readonly packBytes: number) {}

  /** The chunks `segment` closes (none, one, or two). */
  add(segment: Segment): Chunk[] {
    const bytes = segmentBytes(segment);
    if (bytes >= this.packBytes) return [chunkOf([segment])];
    const closed: Chunk[] = [];
    if (this.pack.length && (this.packed + bytes > this.packBytes || this.pack.length === MAX_SEGMENTS_PER_CHUNK)) closed.push(...this.finish());
    this.pack.push(segment);
    this.packed += bytes;
    return closed;
  }

  /** The chunk still open, if any. */
  finish(): Chunk[] {
    const open = this.pack;
    this.pack = [];
    this.packed = 0;
    return open.length ? [chunkOf(open)] : [];
  }
}

function chunkOf(segments: Segment[]): Chunk {
  const id = createHash('sha1');
  for (const s of segments) id.update(`${s.fileUrl}\n${s.index}\n`);
  return { chunkId: id.digest('hex').slice(0, 16), segments };
}

/** Every chunk of `segments` (ChunkPacker over all of them). */
export function packChunks(segments: Segment[], packBytes: number): Chunk[] {
  const packer = new ChunkPacker(packBytes);
  return [...segments.flatMap((s) => packer.add(s)), ...packer.finish()];
}

/**
 * Bounds what one chunk's jobs hold per segment (its line in the chunk's
 * segments, validations and outcomes, a few hundred bytes each; the job data
 * names them). Every chunk costs again in each later stage (its distinct
 * tracks looked up, joined, written and read once per chunk), so the bound is
 * high: 100k files of 10 events make 8 packs, not 25 as at 4,000 (README,
 * "Cost model", has the figures). Higher still was faster on two workers but
 * leaves a day to fewer workers than the eight its byte-packed days spread over.
 */
export const MAX_SEGMENTS_PER_CHUNK = 12_500;

/**
 * Files listed before the plan's pack size is set. A day of fewer is held whole and packed by its bytes
 * (`packBytesFor`, eight packs); a day of this many or more is packed by CHUNK_BYTES and MAX_SEGMENTS_PER_CHUNK
 * and planned as it is listed: its first chunks are validated while the rest is listed, and the folder is
 * listed once whatever its size. Held: URL and size, about 140 bytes a file (4.5 MB).
 */
export const PACK_SIZED_FILES = 32_000;

/**
 * How much small files are packed into one chunk: enough to keep per-chunk
 * cost small, little enough that a day of small files still spreads over the
 * workers (an eighth of the day, at least 1 MiB, at most CHUNK_BYTES). Every
 * chunk costs again in each later stage (its distinct users and tracks looked
 * up, joined and written once per chunk, its parts read by the KPI jobs): 2,000
 * files of 1M events in sixteen packs took 1.3-1.7x the time of five files, in
 * eight 1.2-1.3x.
 */
export function packBytesFor(totalBytes: number, chunkBytes: number): number {
  return Math.min(chunkBytes, Math.max(2 ** 20, Math.ceil(totalBytes / 8)));
}
