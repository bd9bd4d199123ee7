import { isUtf8 } from 'node:buffer';
import {
  closeSync,
  constants,
  fstatSync,
  linkSync,
  opendirSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  unlinkSync,
  type Dir,
  type Dirent,
  type Stats,
} from 'node:fs';
import fs, { type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setImmediate } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import { isPermissionError, ObjectMissingError, type ByteRange, type ListOptions, type ObjectInfo, type SkippedEntry } from './object-store.ts';

const READ_BYTES = 1 << 20;
const WRITE_BYTES = 256 << 10;

/**
 * Whether a POSIX path (or a name under a folder) has only characters a URL's path never encodes: then it is
 * its `file://` URL's path as it is, and no URL is parsed or made for it (a URL parsed an object was a tenth of
 * a small file's validation, an archive moves each file with two, and a listing made one a file). Any other
 * path, and every Windows path, goes through fileURLToPath / pathToFileURL.
 */
const PLAIN_PATH = /^[A-Za-z0-9._/-]+$/;
const isPlainPath = (p: string) => path.sep === '/' && PLAIN_PATH.test(p);
const DOT_SEGMENT = /\/\.\.?(?:\/|$)/;

/** A `file:///` URL's path: a plain one with no `.` or `..` segment to resolve as it is (`isPlainPath`). */
function toPath(url: string): string {
  const p = url.slice('file://'.length);
  return url.startsWith('file:///') && isPlainPath(p) && !DOT_SEGMENT.test(p) ? p : fileURLToPath(url);
}

/** Writes go to a temporary beside their object, then are renamed over it; readers never see one. */
const TMP_PREFIX = '.tmp-';
const isInWriting = (relativePath: string) => relativePath.startsWith(TMP_PREFIX) || relativePath.includes(path.sep + TMP_PREFIX);

const infoOf = (url: string, st: Stats | undefined): ObjectInfo | undefined =>
  st?.isFile() ? { url, size: st.size, etag: `${st.size}-${st.mtimeMs}`, modifiedAt: st.mtimeMs } : undefined;

async function info(url: string): Promise<ObjectInfo | undefined> {
  try {
    return infoOf(url, await fs.stat(toPath(url)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * `info`, synchronous for a listing, as `readBuffer` is and for its reason: a stat through the threadpool
 * costs several times the stat, and a folder of 100k small files is listed twice a run (100k stats: 3.8 s of
 * CPU through the threadpool).
 */
function infoSync(file: string, url: string): ObjectInfo | undefined {
  return infoOf(url, statSync(file, { throwIfNoEntry: false }));
}

/** The `file://` URL of `file`, the path of `name` under the folder whose URL is `rootHref`: a plain name (`isPlainPath`) appended as it is. */
function fileUrlOf(rootHref: string, file: string, name: string): string {
  return isPlainPath(name) ? rootHref + name : pathToFileURL(file).href;
}

/**
 * Runs `create` (which makes something in `file`'s folder), creating the folder first only when it is
 * missing: a mkdir per object is a syscall per small file.
 */
async function inFolder<T>(file: string, create: () => Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    await fs.mkdir(path.dirname(file), { recursive: true });
    return create();
  }
}

/**
 * Whether opens for reading still ask the kernel not to update the file's access time (O_NOATIME): a stream
 * file's first read otherwise writes its inode (relatime), a journalled write a small file. 100k small files
 * read by two validators: 16-22 µs a read against 10-12 (each open, read and close timed in the run). Only
 * a file's owner (or CAP_FOWNER) may ask: the first refusal turns it off for the process.
 */
let noAtime = constants.O_NOATIME !== undefined;

/** `file` opened for reading, its access time left as it was where the process may ask (`noAtime`). */
function openReading(file: string): number {
  if (noAtime) {
    try {
      return openSync(file, constants.O_RDONLY | constants.O_NOATIME);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
      noAtime = false;
    }
  }
  return openSync(file, 'r');
}

/** A stream's chunks written a few hundred KiB at a time: writers hand over many small pieces. */
async function writeGathered(handle: FileHandle, body: Readable): Promise<void> {
  const pending: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of body) {
    const piece = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    pending.push(piece);
    bytes += piece.length;
    if (bytes >= WRITE_BYTES) {
      await handle.writev(pending.splice(0));
      bytes = 0;
    }
  }
  if (pending.length) await handle.writev(pending);
}

/** Folder entries read at once while listing. */
const DIR_PAGE = 1024;

/**
 * Paths (relative to `root`) of the regular files under it, and of links to regular files under its real
 * path when `links` is `inside`. Folders are entered only as themselves (a Dirent's type is the entry's, not
 * its target's), so a link never leads out of `root` and `a -> .` cannot loop.
 */
async function regularFiles(root: string, { links = 'skip', skipped }: ListOptions): Promise<string[]> {
  const files: string[] = [];
  const folders = [''];
  let realRoot: string | undefined;
  const leadsToFileInside = async (file: string) => {
    realRoot ??= await fs.realpath(root);
    const target = await fs.realpath(file).catch(() => undefined);
    return target !== undefined && target.startsWith(realRoot + path.sep) && (await fs.stat(target).catch(() => undefined))?.isFile() === true;
  };
  const skip = (url: string, kind: SkippedEntry['kind']) => skipped?.({ url, kind });
  while (folders.length) {
    const folder = folders.pop()!;
    // Entries a page at a time, only their names kept: a folder of 1M files read whole as entries is
    // hundreds of MB (a worker at a 256 MB heap died of it), its names about 40 MB. Read synchronously, a page
    // between turns of the event loop: an await an entry made listing 100k files 3x slower (0.3 s against 0.1 s).
    let dir: Dir;
    try {
      // Names as bytes (a name may not be UTF-8): opendir takes 'buffer' as readdir does, though its types do not say so.
      dir = opendirSync(path.join(root, folder), { encoding: 'buffer' as BufferEncoding, bufferSize: DIR_PAGE });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      // A folder inside that this process may not read is one entry left out; the folder itself unreadable is the setting's fault.
      if (folder !== '' && isPermissionError(err)) {
        skip(`${pathToFileURL(path.join(root, folder)).href}/`, 'unreadable');
        continue;
      }
      throw err;
    }
    try {
      for (let read = 1; ; read++) {
        const entry = dir.readSync() as Dirent<Buffer> | null;
        if (!entry) break;
        if (read % DIR_PAGE === 0) await setImmediate();
        if (!isUtf8(entry.name)) {
          skip(`${pathToFileURL(path.join(root, folder)).href.replace(/\/?$/, '/')}${percentEncoded(entry.name)}`, 'name_not_utf8');
          continue;
        }
        const name = folder ? path.join(folder, entry.name.toString()) : entry.name.toString();
        if (isInWriting(name)) continue;
        if (entry.isDirectory()) folders.push(name);
        else if (entry.isFile()) files.push(name);
        else if (entry.isSymbolicLink()) {
          const file = path.join(root, name);
          if (links === 'inside' && (await leadsToFileInside(file))) files.push(name);
          else skip(pathToFileURL(file).href, 'symlink');
        } else skip(pathToFileURL(path.join(root, name)).href, 'special_file');
      }
    } finally {
      dir.closeSync();
    }
  }
  return files;
}

/** Every byte that is not an unreserved URL character as `%XX`: a name whose bytes are not text, written exactly. */
const percentEncoded = (bytes: Buffer) =>
  [...bytes]
    .map((b) => (/[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('');

/** Errors of `link` for which the move is a rename instead: a filesystem or a policy (protected_hardlinks) without hard links. */
const NO_LINK = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EMLINK']);

/** Whether `a` and `b` name one file (one inode of one filesystem). */
function isSameFile(a: string, b: string): boolean {
  const [x, y] = [statSync(a), statSync(b, { throwIfNoEntry: false })];
  return y !== undefined && x.ino === y.ino && x.dev === y.dev;
}

/** `source` moved to `target` of the same filesystem (`fileBackend.moveWithin`): linked then unlinked where it can be. */
function linkOrRename(source: string, target: string): void {
  try {
    linkSync(source, target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code !== 'EEXIST' && !NO_LINK.has(code)) throw err;
    // The source's own link: an earlier attempt linked it and stopped before the unlink. Only then are the two looked at.
    if (code !== 'EEXIST' || !isSameFile(source, target)) return renameSync(source, target);
  }
  try {
    unlinkSync(source);
  } catch (err) {
    // Gone already: another attempt of the same move finished it.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

/** `file://` backend: local folders, writes land atomically through a rename. */
export const fileBackend = {
  /**
   * Regular files only, found without following any link (but links `options.links` lets in, to files):
   * a link can neither lead a listing out of its folder nor make it loop. Whatever else is there is told
   * to `options.skipped`.
   */
  async *list(folderUrl: string, options: ListOptions = {}): AsyncIterable<ObjectInfo> {
    const root = toPath(folderUrl);
    // The folder's own URL, as its children's URLs start: that of a child `x`, without the `x`.
    const rootHref = pathToFileURL(path.join(root, 'x')).href.slice(0, -1);
    for (const [i, name] of (await regularFiles(root, options)).sort().entries()) {
      // The stats are synchronous: let the event loop run between pages (1M files' stats held it 9 s, and it renews job locks).
      if (i % DIR_PAGE === DIR_PAGE - 1) await setImmediate();
      const file = path.join(root, name);
      const url = fileUrlOf(rootHref, file, name);
      let found: ObjectInfo | undefined;
      try {
        found = infoSync(file, url);
      } catch (err) {
        if (!isPermissionError(err)) throw err;
        options.skipped?.({ url, kind: 'unreadable' });
      }
      if (found) yield found;
    }
  },

  head: info,

  async read(url: string, range?: ByteRange): Promise<Readable> {
    // One open, no stat for a range: a day of thousands of small files is mostly these calls.
    const handle = await fs.open(toPath(url), 'r');
    if (range && range.end <= range.start) {
      await handle.close();
      return Readable.from([]);
    }
    // 1 MiB reads instead of 64 KiB: 16x fewer chunks through every parser and stream downstream. No bigger
    // than what is read, though: a 1 MiB buffer per small file is most of the cost of a day of thousands of them.
    const length = range ? range.end - range.start : (await handle.stat()).size;
    return handle.createReadStream({ highWaterMark: Math.max(1, Math.min(READ_BYTES, length)), ...(range ? { start: range.start, end: range.end - 1 } : {}) });
  },

  /**
   * Synchronous on purpose: for a small object the threadpool's three hops (open, read, close), each waking
   * a thread on a busy machine, cost several times the read (1,000 files of 25 KB: 0.13-0.24 s of CPU
   * against 0.03-0.04 s). The event loop waits tens of microseconds a file.
   */
  async readBuffer(url: string, range?: ByteRange): Promise<Buffer> {
    const fd = openReading(toPath(url));
    try {
      const start = range?.start ?? 0;
      const bytes = Buffer.allocUnsafe(Math.max(0, (range ? range.end : fstatSync(fd).size) - start));
      let filled = 0;
      while (filled < bytes.length) {
        const read = readSync(fd, bytes, filled, bytes.length - filled, start + filled);
        if (read === 0) break;
        filled += read;
      }
      return bytes.subarray(0, filled);
    } finally {
      closeSync(fd);
    }
  },

  async write(url: string, body: Readable | Buffer | string): Promise<ObjectInfo> {
    const file = toPath(url);
    const tmp = path.join(path.dirname(file), `${TMP_PREFIX}${randomUUID()}`);
    const handle = await inFolder(file, () => fs.open(tmp, 'wx'));
    try {
      if (typeof body === 'string' || Buffer.isBuffer(body)) await handle.writeFile(body);
      else await writeGathered(handle, body);
      const { size, mtimeMs } = await handle.stat();
      await handle.close();
      await fs.rename(tmp, file);
      return { url, size, etag: `${size}-${mtimeMs}`, modifiedAt: mtimeMs };
    } catch (err) {
      await handle.close().catch(() => undefined);
      await fs.rm(tmp, { force: true });
      throw err;
    }
  },

  async copy(fromUrl: string, toUrl: string): Promise<void> {
    const target = toPath(toUrl);
    await inFolder(target, () => fs.copyFile(toPath(fromUrl), target));
  },

  /**
   * A move within one filesystem: the target linked to the source's bytes (the copy, whole or not at all),
   * then the source unlinked; false when the two are on different ones (EXDEV). Not a rename: a rename from
   * one folder into another takes the filesystem's rename lock, so the archive's workers waited on each other
   * (two processes moving 50,000 files each: 1.63-1.65 s by rename, 1.12-1.25 s by link and unlink). A target
   * there already is replaced by a rename, unless it is the source's own link, left by an attempt that stopped
   * between the two steps: then the source is unlinked. The source's folder is looked at only when the link
   * fails: thousands of small files a run are moved. Synchronous, as `readBuffer` is and for its reason:
   * through the threadpool a rename cost 5-8x its CPU (50k renames: 0.4-0.6 s against 0.07-0.1 s besides
   * the kernel's 1.2-1.3 s), and the event loop waits tens of microseconds.
   */
  async moveWithin(fromUrl: string, toUrl: string): Promise<boolean> {
    const source = toPath(fromUrl);
    const target = toPath(toUrl);
    try {
      await inFolder(target, async () => {
        try {
          linkOrRename(source, target);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !(await info(fromUrl))) throw new ObjectMissingError(fromUrl);
          throw err;
        }
      });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EXDEV') return false;
      throw err;
    }
  },

  async delete(url: string): Promise<void> {
    await fs.rm(toPath(url), { force: true });
  },

  async deleteFolder(folderUrl: string): Promise<number> {
    const root = toPath(folderUrl);
    let entries: Dirent[];
    try {
      entries = await fs.readdir(root, { recursive: true, withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    // Counted from the folder's entries, not a stat per object as list gives: a run's temporaries are thousands.
    const count = entries.filter((e) => e.isFile() && !isInWriting(path.relative(root, path.join(e.parentPath, e.name)))).length;
    await fs.rm(root, { recursive: true, force: true });
    return count;
  },
};
