import type { Readable } from 'node:stream';
import { countJobBytes, withSpan, type Attributes } from '@musicflow/telemetry';
import type { ByteRange, ListOptions, ObjectInfo, ObjectStore } from './object-store.ts';

/** An object's span names it by its URL (`s3://bucket/key`, `file:///path`: object URLs carry no credentials). */
const objectAttributes = (url: string, extra: Attributes = {}): Attributes => ({ 'musicflow.object.url': url, ...extra });

/**
 * The store with a span per call made inside a job (a child of its span) when
 * tracing is on, with the bytes moved where the size is known: a ranged or whole-buffer
 * read, a write. Per object, never per row or block; `read` times the opening
 * of the stream, not its consumption. Off, each call is a check and a promise step longer, its attributes never made.
 */
export function tracedObjectStore(store: ObjectStore): ObjectStore {
  const span = <T>(operation: string, url: string, fn: () => Promise<T>, extra?: Attributes) =>
    withSpan(`object-store ${operation}`, () => objectAttributes(url, { 'musicflow.object.operation': operation, ...extra }), fn);
  /** Passes a call's result on, counting the bytes it moved for the job in hand. */
  const counted =
    <T>(direction: 'bytesRead' | 'bytesWritten', bytes: (result: T) => number | undefined) =>
    (result: T): T => {
      countJobBytes(direction, bytes(result));
      return result;
    };
  return {
    list: (folderUrl: string, options?: ListOptions) => store.list(folderUrl, options),
    head: (url) => span('head', url, () => store.head(url)),
    read: (url: string, range?: ByteRange): Promise<Readable> =>
      span('read', url, () => store.read(url, range).then(counted('bytesRead', () => range && range.end - range.start))),
    readBuffer: (url: string, range?: ByteRange) => span('readBuffer', url, () => store.readBuffer(url, range).then(counted('bytesRead', (b) => b.length))),
    write: (url, body): Promise<ObjectInfo> => span('write', url, () => store.write(url, body).then(counted('bytesWritten', (info) => info.size))),
    copy: (fromUrl, toUrl, size) => span('copy', fromUrl, () => store.copy(fromUrl, toUrl, size), { 'musicflow.object.to': toUrl }),
    delete: (url) => span('delete', url, () => store.delete(url)),
    deleteFolder: (folderUrl) => span('deleteFolder', folderUrl, () => store.deleteFolder(folderUrl)),
    move: (fromUrl, toUrl) => span('move', fromUrl, () => store.move(fromUrl, toUrl), { 'musicflow.object.to': toUrl }),
    close: () => store.close(),
  };
}
