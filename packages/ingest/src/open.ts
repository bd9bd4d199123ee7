import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { ByteRange, ObjectStore } from '@musicflow/storage';

/** Bytes of a stream file (or a range of it), decompressed when the file is `.gz`. */
export async function openStreamFile(store: ObjectStore, url: string, options: { gzip: boolean; range?: ByteRange }): Promise<Readable> {
  const raw = await store.read(url, options.gzip ? undefined : options.range);
  if (!options.gzip) return raw;
  const gunzip = createGunzip();
  raw.on('error', (err) => gunzip.destroy(err));
  return raw.pipe(gunzip);
}
