import type { Readable } from 'node:stream';

export interface ObjectInfo {
  /** Full URL of the object, e.g. `s3://bucket/in/streams/a.csv`. */
  url: string;
  size: number;
  /** Content fingerprint when the backend has one (S3 ETag, file mtime+size). */
  etag?: string;
  /** When the object was last written (ms since the epoch), when the backend says. */
  modifiedAt?: number;
}

/** An entry of a listed folder that is not an object: never read, moved or followed (file:// only). */
export interface SkippedEntry {
  /** The entry's URL; the bytes of a name that is not UTF-8 are percent-encoded. */
  url: string;
  kind: 'symlink' | 'special_file' | 'name_not_utf8' | 'unreadable';
}

/** Whether `err` is the file system refusing this process (EACCES, EPERM): asking again gets the same answer. */
export const isPermissionError = (err: unknown): boolean => ['EACCES', 'EPERM'].includes((err as NodeJS.ErrnoException | undefined)?.code ?? '');

export interface ListOptions {
  /**
   * Symbolic links (file:// only): `skip`, the default, lists none; `inside` lists a link to a
   * regular file whose real path is under the folder's real path. A link to a folder is never followed.
   */
  links?: 'skip' | 'inside';
  /** Hears every entry left out: links, FIFOs, sockets, devices, names that are not valid UTF-8, folders and files this process may not read. */
  skipped?: (entry: SkippedEntry) => void;
}

/** Inclusive start, exclusive end, in bytes. */
export interface ByteRange {
  start: number;
  end: number;
}

/** A move whose source is not there: a retried step may find it moved already. */
export class ObjectMissingError extends Error {
  constructor(readonly url: string) {
    super(`cannot move ${url}: it does not exist`);
    this.name = 'ObjectMissingError';
  }
}

/**
 * Moves `fromUrl` to `toUrl`, or finds it moved already by an earlier attempt
 * of the same step; fails only when neither is there.
 */
export async function moveOnce(store: ObjectStore, fromUrl: string, toUrl: string): Promise<void> {
  try {
    await store.move(fromUrl, toUrl);
  } catch (err) {
    if (!(err instanceof ObjectMissingError) || !(await store.head(toUrl))) throw err;
  }
}

/**
 * The one interface every stage uses for bytes: stream files, catalogue
 * snapshots, lake parts, quarantine and archive. URLs carry the backend.
 */
export interface ObjectStore {
  /** Every object under a folder URL, recursively, in key order. */
  list(folderUrl: string, options?: ListOptions): AsyncIterable<ObjectInfo>;
  head(url: string): Promise<ObjectInfo | undefined>;
  read(url: string, range?: ByteRange): Promise<Readable>;
  /** The bytes of a small object or range at once, for thousands of small files: no stream, which costs more than the file. */
  readBuffer(url: string, range?: ByteRange): Promise<Buffer>;
  /** Streams `body` to `url`; the object appears whole or not at all. */
  write(url: string, body: Readable | Buffer | string): Promise<ObjectInfo>;
  /** `size`, the source's when the caller knows it, spares a HEAD (S3 copies an object over S3_MULTIPART_COPY_BYTES in parts). */
  copy(fromUrl: string, toUrl: string, size?: number): Promise<void>;
  delete(url: string): Promise<void>;
  /** Deletes everything under a folder URL; returns how many objects went. */
  deleteFolder(folderUrl: string): Promise<number>;
  /** Copy, verify the copy's size, then delete the source (SPEC 6 archive move); ObjectMissingError when there is no source. */
  move(fromUrl: string, toUrl: string): Promise<void>;
  close(): Promise<void>;
}
