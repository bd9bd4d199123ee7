import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { pMapIterable } from 'p-map';
import type { Segment } from '@musicflow/contracts';
import type { ByteRange, ObjectStore } from '@musicflow/storage';

/** Bytes of a stream file (or a range of it), decompressed when the file is `.gz`. */
export async function openStreamFile(store: ObjectStore, url: string, options: { gzip: boolean; range?: ByteRange }): Promise<Readable> {
  return decoded(await store.read(url, options.gzip ? undefined : options.range), options.gzip);
}

function decoded(raw: Readable, gzip: boolean): Readable {
  if (!gzip) return raw;
  const gunzip = createGunzip();
  raw.on('error', (err) => gunzip.destroy(err));
  return raw.pipe(gunzip);
}

/**
 * How far a chunk's segments are read ahead of the one being parsed: a chunk
 * of small files is otherwise mostly waiting for each file to be opened and
 * read, one after the other (on S3, a request each). Segments up to
 * `wholeBytes` are read whole, `segments` at most held ahead: a few MiB.
 */
const READ_AHEAD = { segments: 8, concurrency: 4, wholeBytes: 1 << 20 };

async function* oneBuffer(bytes: Buffer): AsyncGenerator<Buffer> {
  yield bytes;
}

export interface OpenableSegment {
  segment: Segment;
  /** The segment's bytes, decompressed; a small segment's were read ahead already. */
  open(): Promise<AsyncIterable<Buffer>>;
}

/** The segments in order, small ones read ahead (READ_AHEAD); a failed read is thrown when its segment's turn comes. */
export function segmentsReadAhead(store: ObjectStore, segments: Segment[]): AsyncIterable<OpenableSegment> {
  return pMapIterable(
    segments,
    async (segment): Promise<OpenableSegment> => {
      if (segment.end - segment.start > READ_AHEAD.wholeBytes) {
        return { segment, open: () => openStreamFile(store, segment.fileUrl, { gzip: segment.gzip, range: segment }) };
      }
      // A `.gz` segment is the whole file.
      const bytes = await store.readBuffer(segment.fileUrl, segment.gzip ? undefined : segment);
      // Not a stream when not compressed: a stream per small file costs more than parsing it.
      return { segment, open: async () => (segment.gzip ? decoded(Readable.from([bytes]), true) : oneBuffer(bytes)) };
    },
    { concurrency: READ_AHEAD.concurrency, backpressure: READ_AHEAD.segments },
  );
}
