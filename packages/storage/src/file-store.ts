import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import type { ByteRange, ObjectInfo } from './object-store.ts';

const READ_BYTES = 1 << 20;

const toPath = (url: string) => fileURLToPath(url);

async function info(url: string): Promise<ObjectInfo | undefined> {
  try {
    const st = await fs.stat(toPath(url));
    if (!st.isFile()) return undefined;
    return { url, size: st.size, etag: `${st.size}-${st.mtimeMs}` };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** `file://` backend: local folders, writes land atomically through a rename. */
export const fileBackend = {
  async *list(folderUrl: string): AsyncIterable<ObjectInfo> {
    const root = toPath(folderUrl);
    let names: string[];
    try {
      names = (await fs.readdir(root, { recursive: true })) as string[];
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const name of names.sort()) {
      if (name.split(path.sep).some((s) => s.startsWith('.tmp-'))) continue;
      const found = await info(pathToFileURL(path.join(root, name)).href);
      if (found) yield found;
    }
  },

  head: info,

  async read(url: string, range?: ByteRange): Promise<Readable> {
    const file = toPath(url);
    const { size } = await fs.stat(file);
    if (range && range.end <= range.start) return Readable.from([]);
    // 1 MiB reads instead of 64 KiB: 16x fewer chunks through every parser and stream downstream. No bigger
    // than what is read, though: a 1 MiB buffer per small file is most of the cost of a day of thousands of them.
    const length = range ? range.end - range.start : size;
    return createReadStream(file, { highWaterMark: Math.max(1, Math.min(READ_BYTES, length)), ...(range ? { start: range.start, end: range.end - 1 } : {}) });
  },

  async write(url: string, body: Readable | Buffer | string): Promise<ObjectInfo> {
    const file = toPath(url);
    await fs.mkdir(path.dirname(file), { recursive: true });
    const tmp = path.join(path.dirname(file), `.tmp-${randomUUID()}`);
    try {
      await pipeline(typeof body === 'string' || Buffer.isBuffer(body) ? Readable.from([body]) : body, createWriteStream(tmp));
      await fs.rename(tmp, file);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
    return (await info(url))!;
  },

  async copy(fromUrl: string, toUrl: string): Promise<void> {
    const target = toPath(toUrl);
    await fs.mkdir(path.dirname(target), { recursive: true });
    await fs.copyFile(toPath(fromUrl), target);
  },

  /** An atomic move within one filesystem; false when the two are on different ones (EXDEV). */
  async rename(fromUrl: string, toUrl: string): Promise<boolean> {
    const target = toPath(toUrl);
    await fs.mkdir(path.dirname(target), { recursive: true });
    try {
      await fs.rename(toPath(fromUrl), target);
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
    let count = 0;
    for await (const _ of fileBackend.list(folderUrl)) count++;
    await fs.rm(toPath(folderUrl), { recursive: true, force: true });
    return count;
  },
};
