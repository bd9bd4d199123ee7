import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { Segment } from '@musicflow/contracts';
import type { ByteRange, ObjectStore } from '@musicflow/storage';
import { inflateBound, type FileBounds } from './bounds.ts';

/**
 * Bytes of a stream file (or a range of it), decompressed when the file is `.gz`. A `.gz` file is read
 * whole; its `range` is the whole file, whose size bounds what it may inflate to (`inflate`).
 */
export async function openStreamFile(
  store: ObjectStore,
  url: string,
  options: { gzip: boolean; range?: ByteRange; inflate?: Pick<FileBounds, 'maxDecompressedBytes' | 'maxGzipRatio'> },
): Promise<Readable> {
  const raw = await store.read(url, options.gzip ? undefined : options.range);
  return options.gzip ? inflated(raw, options.range ? options.range.end - options.range.start : Infinity, options.inflate) : raw;
}

function inflated(raw: Readable, compressedBytes: number, bounds: Pick<FileBounds, 'maxDecompressedBytes' | 'maxGzipRatio'> | undefined): Readable {
  const gunzip = createGunzip();
  // Errors reach the last stream; one read only in part (a header) is destroyed by its reader, which ends the others.
  return bounds ? pipeline(raw, gunzip, inflateBound(compressedBytes, bounds), () => undefined) : pipeline(raw, gunzip, () => undefined);
}

/** Segments up to this size are read whole, ahead of their turn; the plan leaves the header of a file this small to the validator. */
export const WHOLE_READ_BYTES = 1 << 20;

/**
 * How many of a chunk's segments are read ahead of the one being parsed, at once: a chunk of small files is
 * otherwise mostly waiting for each file to be opened and read, one after the other (on S3, a request each).
 * Segments up to WHOLE_READ_BYTES are read whole: a few MiB held ahead at most.
 */
const READ_AHEAD = 8;

/** A segment to validate: a small uncompressed one read ahead whole (taken as it is, with no stream or generator a file), or its bytes to open. */
export type OpenableSegment =
  | { segment: Segment; whole: Buffer }
  | {
      segment: Segment;
      /** The segment's bytes, decompressed; a small `.gz` segment's were read ahead already. */
      open(): Promise<AsyncIterable<Buffer>>;
    };

/**
 * The segments in order, small ones read ahead (READ_AHEAD); a failed read is thrown by its segment's `open`.
 * A window of reads, not p-map's iterable: its promises and closures a segment were a tenth of a small file's validation.
 */
export async function* segmentsReadAhead(store: ObjectStore, segments: readonly Segment[], bounds: FileBounds): AsyncGenerator<OpenableSegment> {
  const ahead: Promise<OpenableSegment>[] = [];
  let next = 0;
  while (next < segments.length || ahead.length > 0) {
    while (next < segments.length && ahead.length < READ_AHEAD) ahead.push(openSegment(store, segments[next++]!, bounds));
    yield await ahead.shift()!;
  }
}

async function openSegment(store: ObjectStore, segment: Segment, bounds: FileBounds): Promise<OpenableSegment> {
  if (segment.end - segment.start > WHOLE_READ_BYTES) {
    return { segment, open: () => openStreamFile(store, segment.fileUrl, { gzip: segment.gzip, range: segment, inflate: bounds }) };
  }
  // A `.gz` segment is the whole file. A read that fails fails the segment's open, so its reader may tell why.
  const bytes = await store.readBuffer(segment.fileUrl, segment.gzip ? undefined : segment).catch((err: unknown) => err as Error);
  if (bytes instanceof Error) return { segment, open: () => Promise.reject(bytes) };
  // Not a stream when not compressed: a stream per small file costs more than parsing it.
  if (segment.gzip) return { segment, open: async () => inflated(Readable.from([bytes]), bytes.length, bounds) };
  return { segment, whole: bytes };
}
