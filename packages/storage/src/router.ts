import type { Readable } from 'node:stream';
import { fileBackend } from './file-store.ts';
import { createS3Backend, type S3Options } from './s3-store.ts';
import { tracedObjectStore } from './traced.ts';
import { ObjectMissingError, type ByteRange, type ListOptions, type ObjectInfo, type ObjectStore } from './object-store.ts';

export type StorageOptions = S3Options;

type Backend = Omit<ObjectStore, 'move' | 'close'> & { close?: () => Promise<void> };

/** One store for both schemes: each call goes to the backend its URL names, in a span when tracing is on. */
export function createObjectStore(options: StorageOptions): ObjectStore {
  let s3: ReturnType<typeof createS3Backend> | undefined;
  const backend = (url: string): Backend => {
    if (url.startsWith('file://')) return fileBackend;
    if (url.startsWith('s3://')) return (s3 ??= createS3Backend(options));
    throw new Error(`unsupported object URL (want s3:// or file://): ${url}`);
  };

  const store: ObjectStore = {
    list: (folderUrl: string, options?: ListOptions): AsyncIterable<ObjectInfo> => backend(folderUrl).list(folderUrl, options),
    head: (url: string) => backend(url).head(url),
    read: (url: string, range?: ByteRange): Promise<Readable> => backend(url).read(url, range),
    readBuffer: (url: string, range?: ByteRange): Promise<Buffer> => backend(url).readBuffer(url, range),
    write: (url: string, body: Readable | Buffer | string) => backend(url).write(url, body),
    async copy(fromUrl: string, toUrl: string, size?: number) {
      const from = backend(fromUrl);
      if (from === backend(toUrl)) return from.copy(fromUrl, toUrl, size);
      await backend(toUrl).write(toUrl, await from.read(fromUrl));
    },
    delete: (url: string) => backend(url).delete(url),
    deleteFolder: (folderUrl: string) => backend(folderUrl).deleteFolder(folderUrl),
    async move(fromUrl: string, toUrl: string) {
      // Two folders of one filesystem: a link and an unlink are the move, the bytes never copied (thousands of small files a run).
      if (fromUrl.startsWith('file://') && toUrl.startsWith('file://') && (await fileBackend.moveWithin(fromUrl, toUrl))) return;
      const source = await store.head(fromUrl);
      if (!source) throw new ObjectMissingError(fromUrl);
      await store.copy(fromUrl, toUrl, source.size);
      const copied = await store.head(toUrl);
      if (!copied || copied.size !== source.size) {
        throw new Error(`copy of ${fromUrl} to ${toUrl} did not verify (size ${copied?.size} != ${source.size})`);
      }
      await store.delete(fromUrl);
    },
    async close() {
      await s3?.close();
    },
  };
  return tracedObjectStore(store);
}
