/**
 * The ObjectStore contract, the same tests against the s3:// adapter (a real
 * S3-protocol server, s3rver, on loopback, own bucket) and the file://
 * adapter (own temp folder).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createObjectStore, joinUrl, moveOnce, ObjectMissingError, s3RequestCounts, type ObjectStore } from '@musicflow/storage';
import { dirUrl, REPO, tempDir, uniqueName } from '../helpers/env.ts';
import { startS3, type TestS3 } from '../helpers/s3.ts';

const execFileAsync = promisify(execFile);

async function text(store: ObjectStore, url: string, range?: { start: number; end: number }): Promise<string> {
  const parts: Buffer[] = [];
  for await (const b of await store.read(url, range)) parts.push(Buffer.from(b as Buffer));
  return Buffer.concat(parts).toString();
}

async function keys(store: ObjectStore, folder: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(folder)) out.push(o.url.slice(folder.length));
  return out;
}

/** A stream that fails after some bytes, as a dropped source connection would. */
function failingStream(bytesBefore: number): Readable {
  return Readable.from(
    (async function* () {
      yield Buffer.alloc(bytesBefore, 0x61);
      await new Promise((resolve) => setTimeout(resolve, 10));
      throw new Error('source went away');
    })(),
  );
}

const MiB = 1 << 20;

/** `size` pseudo-random bytes generated on the fly in 256 KiB pieces, never held whole; `digest()` after reading. */
function generated(size: number) {
  const hash = createHash('sha256');
  const progress = { produced: 0 };
  let produced = 0;
  const stream = Readable.from(
    (function* () {
      let seed = 1;
      while (produced < size) {
        const n = Math.min(256 * 1024, size - produced);
        const piece = Buffer.alloc(n);
        for (let i = 0; i < n; i++) {
          seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
          piece[i] = seed >>> 24;
        }
        hash.update(piece);
        produced += n;
        progress.produced = produced;
        yield piece;
      }
    })(),
  );
  return { stream, progress, digest: () => hash.digest('hex') };
}

async function sha256Of(store: ObjectStore, url: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const b of await store.read(url)) hash.update(b as Buffer);
  return hash.digest('hex');
}

function objectStoreContract(name: string, setup: () => Promise<{ store: ObjectStore; root: string; teardown: () => Promise<void> }>) {
  describe(`ObjectStore contract: ${name}`, () => {
    let store: ObjectStore;
    let root: string;
    let teardown: () => Promise<void>;
    const url = (...parts: string[]) => joinUrl(root, ...parts);

    beforeAll(async () => {
      ({ store, root, teardown } = await setup());
    });
    afterAll(async () => {
      await teardown?.();
    });

    it('writes strings, buffers and streams; head gives size; read gives the bytes back', async () => {
      const a = await store.write(url('rw', 'a.txt'), 'héllo, wörld\n');
      expect(a).toMatchObject({ url: url('rw', 'a.txt'), size: Buffer.byteLength('héllo, wörld\n') });
      await store.write(url('rw', 'b.bin'), Buffer.from([0, 1, 2, 255]));
      await store.write(url('rw', 'c.txt'), Readable.from(['one ', 'two ', 'three']));
      await store.write(url('rw', 'empty.txt'), '');
      expect(await text(store, url('rw', 'a.txt'))).toBe('héllo, wörld\n');
      expect(await store.head(url('rw', 'b.bin'))).toMatchObject({ size: 4 });
      expect(await text(store, url('rw', 'c.txt'))).toBe('one two three');
      expect(await store.head(url('rw', 'empty.txt'))).toMatchObject({ size: 0 });
      expect(await text(store, url('rw', 'empty.txt'))).toBe('');
      // Overwrite replaces.
      await store.write(url('rw', 'a.txt'), 'short');
      expect(await text(store, url('rw', 'a.txt'))).toBe('short');
      expect((await store.head(url('rw', 'a.txt')))?.size).toBe(5);
    });

    it('head of a missing object is undefined; reading it fails', async () => {
      expect(await store.head(url('nowhere', 'missing.csv'))).toBeUndefined();
      await expect(text(store, url('nowhere', 'missing.csv'))).rejects.toThrow();
    });

    it('reads byte ranges: [start, end)', async () => {
      await store.write(url('range', 'r.txt'), '0123456789');
      // (Not {0, 1}: s3rver 3.7 reads `bytes=0-0` as the whole object; real S3 does not.)
      expect(await text(store, url('range', 'r.txt'), { start: 0, end: 2 })).toBe('01');
      expect(await text(store, url('range', 'r.txt'), { start: 3, end: 7 })).toBe('3456');
      expect(await text(store, url('range', 'r.txt'), { start: 9, end: 10 })).toBe('9');
      expect(await text(store, url('range', 'r.txt'), { start: 5, end: 5 })).toBe('');
      expect(await text(store, url('range', 'r.txt'), { start: 0, end: 10 })).toBe('0123456789');
    });

    it('readBuffer gives a whole object or a range at once; reading a missing one fails', async () => {
      await store.write(url('buf', 'r.txt'), '0123456789');
      expect((await store.readBuffer(url('buf', 'r.txt'))).toString()).toBe('0123456789');
      expect((await store.readBuffer(url('buf', 'r.txt'), { start: 3, end: 7 })).toString()).toBe('3456');
      expect((await store.readBuffer(url('buf', 'r.txt'), { start: 8, end: 10 })).toString()).toBe('89');
      await store.write(url('buf', 'empty.txt'), '');
      expect((await store.readBuffer(url('buf', 'empty.txt'))).length).toBe(0);
      await expect(store.readBuffer(url('buf', 'missing.txt'))).rejects.toThrow();
    });

    it('a write whose stream fails leaves no object, and does not damage an existing one', async () => {
      await expect(store.write(url('atomic', 'new.csv'), failingStream(1000))).rejects.toThrow(/source went away/);
      expect(await store.head(url('atomic', 'new.csv'))).toBeUndefined();
      expect(await keys(store, url('atomic/'))).toEqual([]);
      await store.write(url('atomic', 'old.csv'), 'old content');
      await expect(store.write(url('atomic', 'old.csv'), failingStream(1000))).rejects.toThrow(/source went away/);
      expect(await text(store, url('atomic', 'old.csv'))).toBe('old content');
    });

    it('lists a folder recursively, in key order, and nothing outside it', async () => {
      for (const k of ['list/b.csv', 'list/a.csv', 'list/sub/deeper/z.csv', 'list/sub/c.csv', 'list-other/x.csv', 'listx.csv']) {
        await store.write(url(k), k);
      }
      expect(await keys(store, url('list/'))).toEqual(['a.csv', 'b.csv', 'sub/c.csv', 'sub/deeper/z.csv']);
      const listed = [];
      for await (const o of store.list(url('list/'))) listed.push(o);
      expect(listed[0]).toMatchObject({ url: url('list', 'a.csv'), size: 'list/a.csv'.length });
      expect(await keys(store, url('no-such-folder/'))).toEqual([]);
    });

    it('copies, leaving the source', async () => {
      await store.write(url('cp', 'src.csv'), 'copy me');
      await store.copy(url('cp', 'src.csv'), url('cp', 'nested', 'dst.csv'));
      expect(await text(store, url('cp', 'nested', 'dst.csv'))).toBe('copy me');
      expect(await text(store, url('cp', 'src.csv'))).toBe('copy me');
    });

    it('moves with verification: the target holds the bytes, the source is gone', async () => {
      await store.write(url('mv', 'in', 'streams1.csv'), 'user_id,track_id,listen_time\n1,a,2024-06-25 10:00:00\n');
      await store.move(url('mv', 'in', 'streams1.csv'), url('mv', 'archive', '2024', '06', '25', 'streams1.csv'));
      expect(await store.head(url('mv', 'in', 'streams1.csv'))).toBeUndefined();
      expect(await text(store, url('mv', 'archive', '2024', '06', '25', 'streams1.csv'))).toBe('user_id,track_id,listen_time\n1,a,2024-06-25 10:00:00\n');
      // Moving a missing object fails and creates nothing.
      await expect(store.move(url('mv', 'in', 'gone.csv'), url('mv', 'archive', 'gone.csv'))).rejects.toThrow(ObjectMissingError);
      expect(await store.head(url('mv', 'archive', 'gone.csv'))).toBeUndefined();
    });

    it('moveOnce moves, finds a repeat moved already, and fails when neither source nor target is there', async () => {
      await store.write(url('once', 'staged', 'p.parquet'), 'part');
      await moveOnce(store, url('once', 'staged', 'p.parquet'), url('once', 'published', 'p.parquet'));
      await moveOnce(store, url('once', 'staged', 'p.parquet'), url('once', 'published', 'p.parquet'));
      expect(await text(store, url('once', 'published', 'p.parquet'))).toBe('part');
      await expect(moveOnce(store, url('once', 'staged', 'never.parquet'), url('once', 'published', 'never.parquet'))).rejects.toThrow(
        /never.parquet: it does not exist/,
      );
    });

    // Listing beyond 1000 keys is not tested against s3rver: its continuation tokens use DES, which
    // OpenSSL 3 (Node 20) no longer has, so any second page fails with InternalError.
    it('deletes one object (also a missing one) and whole folders, counting them', async () => {
      await store.write(url('del', 'one.csv'), '1');
      await store.delete(url('del', 'one.csv'));
      expect(await store.head(url('del', 'one.csv'))).toBeUndefined();
      await store.delete(url('del', 'never-was.csv'));

      for (const k of ['tmp/run=r1/a.tsv', 'tmp/run=r1/valid/b.tsv', 'tmp/run=r1/q/c.csv', 'tmp/run=r10/keep.tsv', 'tmp/keep.tsv']) {
        await store.write(url('del', k), k);
      }
      expect(await store.deleteFolder(url('del', 'tmp', 'run=r1/'))).toBe(3);
      expect(await keys(store, url('del/'))).toEqual(['tmp/keep.tsv', 'tmp/run=r10/keep.tsv']);
      expect(await store.deleteFolder(url('del', 'tmp', 'run=r1/'))).toBe(0);
    });

    it('streams a write larger than 5 MiB and reads it back identical', async () => {
      const size = 12 * MiB + 12345;
      const source = generated(size);
      const info = await store.write(url('big', 'stream.bin'), source.stream);
      expect(info.size).toBe(size);
      const expected = source.digest();
      expect(await sha256Of(store, url('big', 'stream.bin'))).toBe(expected);
      // A range across a part boundary (5 MiB) reads the right bytes.
      const whole = generated(size);
      const chunks: Buffer[] = [];
      for await (const b of whole.stream) chunks.push(b as Buffer);
      const all = Buffer.concat(chunks);
      const parts: Buffer[] = [];
      for await (const b of await store.read(url('big', 'stream.bin'), { start: 5 * MiB - 10, end: 5 * MiB + 10 })) parts.push(b as Buffer);
      expect(Buffer.concat(parts)).toEqual(all.subarray(5 * MiB - 10, 5 * MiB + 10));
    });
  });
}

let s3: TestS3 | undefined;
const s3Bucket = uniqueName('mf-storage').replace(/_/g, '-');

objectStoreContract('s3:// (s3rver)', async () => {
  s3 = await startS3([s3Bucket]);
  const store = createObjectStore({ forcePathStyle: true, checksums: 'WHEN_REQUIRED' });
  return {
    store,
    root: `s3://${s3Bucket}/prefix/`,
    teardown: async () => {
      await store.close();
      await s3?.close();
    },
  };
});

objectStoreContract('file://', async () => {
  const dir = await tempDir('musicflow-storage-');
  const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
  return {
    store,
    root: dirUrl(path.join(dir, 'root')),
    teardown: async () => {
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
});

describe('file:// moves', () => {
  const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
  afterAll(() => store.close());

  it('moves within a filesystem by link and unlink: the same inode, so the bytes were not copied', async () => {
    const dir = await tempDir('musicflow-move-');
    const from = path.join(dir, 'in', 'a.csv');
    await store.write(dirUrl(path.join(dir, 'in')) + 'a.csv', 'renamed');
    const inode = (await fs.stat(from)).ino;
    await store.move(dirUrl(path.join(dir, 'in')) + 'a.csv', dirUrl(path.join(dir, 'archive', '2024')) + 'a.csv');
    expect((await fs.stat(path.join(dir, 'archive', '2024', 'a.csv'))).ino).toBe(inode);
    await expect(fs.access(from)).rejects.toThrow();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('replaces a target that holds other bytes, and finishes a move stopped between its link and its unlink', async () => {
    const dir = await tempDir('musicflow-move-');
    const [inUrl, archiveUrl] = [dirUrl(path.join(dir, 'in')), dirUrl(path.join(dir, 'archive'))];
    // An earlier day's file of the same name, archived already: the move replaces it, as a rename would.
    await store.write(archiveUrl + 'a.csv', 'older');
    await store.write(inUrl + 'a.csv', 'newer');
    await store.move(inUrl + 'a.csv', archiveUrl + 'a.csv');
    expect(await fs.readFile(path.join(dir, 'archive', 'a.csv'), 'utf8')).toBe('newer');
    await expect(fs.access(path.join(dir, 'in', 'a.csv'))).rejects.toThrow();
    // A worker killed after the link: the file is in both folders, one inode; the retried move unlinks the source.
    await store.write(inUrl + 'b.csv', 'halfway');
    await fs.link(path.join(dir, 'in', 'b.csv'), path.join(dir, 'archive', 'b.csv'));
    await store.move(inUrl + 'b.csv', archiveUrl + 'b.csv');
    expect(await fs.readFile(path.join(dir, 'archive', 'b.csv'), 'utf8')).toBe('halfway');
    await expect(fs.access(path.join(dir, 'in', 'b.csv'))).rejects.toThrow();
    // ...and a third attempt finds it moved.
    await expect(store.move(inUrl + 'b.csv', archiveUrl + 'b.csv')).rejects.toThrow(ObjectMissingError);
    await fs.rm(dir, { recursive: true, force: true });
  });

  // /dev/shm is a tmpfs on Linux, another filesystem than the temp folder's disk: rename gives EXDEV.
  it.skipIf(!existsSync('/dev/shm'))('moves between two filesystems by copy, verify, delete', async () => {
    const shm = await fs.mkdtemp('/dev/shm/musicflow-move-');
    const disk = await tempDir('musicflow-move-');
    try {
      await store.write(dirUrl(shm) + 'b.csv', 'copied');
      await store.move(dirUrl(shm) + 'b.csv', dirUrl(path.join(disk, 'archive')) + 'b.csv');
      expect(await fs.readFile(path.join(disk, 'archive', 'b.csv'), 'utf8')).toBe('copied');
      await expect(fs.access(path.join(shm, 'b.csv'))).rejects.toThrow();
    } finally {
      await fs.rm(shm, { recursive: true, force: true });
      await fs.rm(disk, { recursive: true, force: true });
    }
  });
});

describe('file:// reads', () => {
  const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
  afterAll(() => store.close());
  const aDayAgo = (file: string) => fs.stat(file).then(({ mtime }) => fs.utimes(file, new Date(mtime.getTime() - 86_400_000), mtime));

  it("leaves a file's access time as it was (O_NOATIME): a first read writes no inode", async ({ skip }) => {
    const dir = await tempDir('musicflow-read-');
    try {
      const [plain, ours] = [path.join(dir, 'plain.csv'), path.join(dir, 'ours.csv')];
      for (const file of [plain, ours]) {
        await fs.writeFile(file, 'user_id,track_id,listen_time\n');
        await aDayAgo(file);
      }
      await fs.readFile(plain);
      if ((await fs.stat(plain)).atimeMs < (await fs.stat(plain)).mtimeMs) skip('this filesystem updates no access time on a read (noatime)');
      const before = (await fs.stat(ours)).atimeMs;
      expect((await store.readBuffer(pathToFileURL(ours).href)).toString()).toBe('user_id,track_id,listen_time\n');
      expect((await fs.stat(ours)).atimeMs).toBe(before);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  // Only a file's owner (or CAP_FOWNER) may ask for O_NOATIME: a reader without either (here root without
  // CAP_FOWNER, by util-linux's setpriv, reading a file owned by nobody) reads it all the same.
  it.skipIf(process.getuid?.() !== 0 || !existsSync('/usr/bin/setpriv'))('reads a file it does not own, whose access time it may not keep', async () => {
    const dir = await tempDir('musicflow-read-');
    try {
      const file = path.join(dir, 'nobody.csv');
      await fs.writeFile(file, 'a,b\n1,2\n');
      await fs.chown(file, 65534, 65534);
      const storage = pathToFileURL(path.join(REPO, 'packages', 'storage', 'dist', 'index.js')).href;
      const script = `const { createObjectStore } = await import(${JSON.stringify(storage)}); const store = createObjectStore({}); for (let i = 0; i < 2; i++) process.stdout.write((await store.readBuffer(${JSON.stringify(pathToFileURL(file).href)})).toString());`;
      const { stdout } = await execFileAsync('/usr/bin/setpriv', ['--bounding-set', '-fowner', process.execPath, '--input-type=module', '-e', script]);
      expect(stdout).toBe('a,b\n1,2\na,b\n1,2\n');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('s3:// specifics', () => {
  let server: TestS3;
  let store: ObjectStore;
  let dir: string;
  const bucket = uniqueName('mf-s3x').replace(/_/g, '-');

  beforeAll(async () => {
    server = await startS3([bucket]);
    store = createObjectStore({ forcePathStyle: true, checksums: 'WHEN_REQUIRED' });
    dir = await tempDir('musicflow-storage-x-');
  });
  afterAll(async () => {
    await store.close();
    await server.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('uploads a large stream in parts while it is still being produced (multipart, bounded memory)', async () => {
    // Watch the adapter's HTTP requests to the server (observation only: nothing is replaced).
    const requests: { method: string; path: string; producedAtStart: number }[] = [];
    const size = 26 * MiB;
    const source = generated(size);
    const onRequest = (message: unknown) => {
      const { request } = message as { request: { method: string; path: string } };
      requests.push({ method: request.method, path: request.path, producedAtStart: source.progress.produced });
    };
    diagnostics.subscribe('http.client.request.start', onRequest);
    try {
      const info = await store.write(`s3://${bucket}/big/multi.bin`, source.stream);
      expect(info.size).toBe(size);
    } finally {
      diagnostics.unsubscribe('http.client.request.start', onRequest);
    }
    const parts = requests.filter((r) => r.method === 'PUT' && /[?&]partNumber=\d+/.test(r.path));
    expect(requests.some((r) => r.method === 'POST' && /[?&]uploads\b/.test(r.path))).toBe(true);
    expect(parts.length).toBe(6); // 5 MiB parts: 5 full + 1 MiB
    expect(requests.some((r) => r.method === 'POST' && /[?&]uploadId=/.test(r.path))).toBe(true);
    // The first part went up long before the whole stream existed: the body is never held whole.
    expect(parts[0]!.producedAtStart).toBeLessThan(size / 2);
    expect(await sha256Of(store, `s3://${bucket}/big/multi.bin`)).toBe(source.digest());
  });

  it('moves an object over S3_MULTIPART_COPY_BYTES in copied parts (UploadPartCopy), byte for byte', async () => {
    // The 5 GiB limit of one CopyObject, at its smallest setting: 12 MiB goes as parts of 5, 5 and 2 MiB.
    const parted = createObjectStore({ forcePathStyle: true, checksums: 'WHEN_REQUIRED', multipartCopyBytes: 5 * MiB });
    const size = 12 * MiB;
    const source = generated(size);
    await parted.write(`s3://${bucket}/big/archive-me.bin`, source.stream);
    const requests: { method: string; path: string; copyRange?: string }[] = [];
    const onRequest = (message: unknown) => {
      const { request } = message as { request: { method: string; path: string; getHeader(name: string): unknown } };
      requests.push({ method: request.method, path: request.path, copyRange: request.getHeader('x-amz-copy-source-range') as string | undefined });
    };
    diagnostics.subscribe('http.client.request.start', onRequest);
    try {
      await parted.move(`s3://${bucket}/big/archive-me.bin`, `s3://${bucket}/archive/2024/archive-me.bin`);
    } finally {
      diagnostics.unsubscribe('http.client.request.start', onRequest);
      await parted.close();
    }
    const copies = requests.filter((r) => r.method === 'PUT' && /[?&]partNumber=\d+/.test(r.path));
    expect(copies.map((r) => r.copyRange).sort()).toEqual([`bytes=0-${5 * MiB - 1}`, `bytes=${10 * MiB}-${size - 1}`, `bytes=${5 * MiB}-${10 * MiB - 1}`]);
    expect(await store.head(`s3://${bucket}/big/archive-me.bin`)).toBeUndefined();
    expect(await sha256Of(store, `s3://${bucket}/archive/2024/archive-me.bin`)).toBe(source.digest());
  });

  it('copies and moves keys with spaces and symbols', async () => {
    const from = `s3://${bucket}/in/day 1/a+b=c,d&e.csv`;
    await store.write(from, 'special');
    await store.copy(from, `s3://${bucket}/out/copy of a+b.csv`);
    expect(await text(store, `s3://${bucket}/out/copy of a+b.csv`)).toBe('special');
    await store.move(from, `s3://${bucket}/archive/2024/a+b=c,d&e.csv`);
    expect(await store.head(from)).toBeUndefined();
    expect(await text(store, `s3://${bucket}/archive/2024/a+b=c,d&e.csv`)).toBe('special');
  });

  it('copies and moves between file:// and s3://', async () => {
    const local = `${dirUrl(dir)}local.csv`;
    await store.write(local, 'across backends');
    await store.copy(local, `s3://${bucket}/x/remote.csv`);
    expect(await text(store, `s3://${bucket}/x/remote.csv`)).toBe('across backends');
    await store.move(`s3://${bucket}/x/remote.csv`, `${dirUrl(dir)}back/again.csv`);
    expect(await fs.readFile(path.join(dir, 'back', 'again.csv'), 'utf8')).toBe('across backends');
    expect(await store.head(`s3://${bucket}/x/remote.csv`)).toBeUndefined();
  });

  it('rejects unsupported URLs', () => {
    expect(() => store.head('http://example.com/x.csv')).toThrow(/unsupported object URL/);
  });

  it('counts the requests it sends by kind, each one the server gets', async () => {
    let sent = 0;
    const onRequest = () => sent++;
    const before = s3RequestCounts();
    diagnostics.subscribe('http.client.request.start', onRequest);
    try {
      await store.write(`s3://${bucket}/count/a.csv`, 'counted'); // PUT, HEAD
      await store.readBuffer(`s3://${bucket}/count/a.csv`, { start: 0, end: 3 }); // GET
      for await (const _ of store.list(`s3://${bucket}/count/`)); // LIST
      await store.move(`s3://${bucket}/count/a.csv`, `s3://${bucket}/count/b.csv`); // HEAD, COPY, HEAD, DELETE
      await expect(store.move(`s3://${bucket}/count/a.csv`, `s3://${bucket}/count/c.csv`)).rejects.toThrow(ObjectMissingError); // HEAD
      await store.deleteFolder(`s3://${bucket}/count/`); // LIST, DELETE (one batch)
    } finally {
      diagnostics.unsubscribe('http.client.request.start', onRequest);
    }
    const after = s3RequestCounts();
    const delta = Object.fromEntries(Object.entries(after).map(([kind, n]) => [kind, n - before[kind as keyof typeof before]]));
    expect(delta).toEqual({ LIST: 2, HEAD: 4, GET: 1, PUT: 1, COPY: 1, DELETE: 2, multipart: 0 });
    expect(Object.values(delta).reduce((a, b) => a + b, 0)).toBe(sent);
  });
});

describe('file:// listings and links', () => {
  const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
  let dir: string;
  let root: string;
  beforeAll(async () => {
    dir = await tempDir('musicflow-links-');
    root = path.join(dir, 'in');
    await fs.mkdir(path.join(root, 'sub'), { recursive: true });
    await fs.mkdir(path.join(dir, 'out'));
    await fs.writeFile(path.join(root, 'sub', 'real.csv'), 'inside');
    await fs.writeFile(path.join(dir, 'out', 'secret.csv'), 'outside');
    await fs.symlink(path.join(root, 'sub', 'real.csv'), path.join(root, 'to-inside.csv'));
    await fs.symlink('../out/secret.csv', path.join(root, 'to-outside.csv'));
    await fs.symlink('sub', path.join(root, 'to-folder'));
    await fs.symlink('.', path.join(root, 'loop'));
    await fs.symlink('missing.csv', path.join(root, 'dangling.csv'));
  });
  afterAll(async () => {
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  const listed = async (links: 'skip' | 'inside') => {
    const skipped: string[] = [];
    const urls: string[] = [];
    for await (const o of store.list(dirUrl(root), { links, skipped: (e) => skipped.push(`${e.kind} ${e.url.slice(dirUrl(root).length)}`) })) {
      urls.push(o.url.slice(dirUrl(root).length));
    }
    return { urls, skipped: skipped.sort() };
  };

  it("gives each file pathToFileURL's URL, plain names and names it encodes alike, and none being written", async () => {
    const names = ['a.csv', 'sub/b-1_2.CSV', 'day 1/x.csv', 'é.csv', 'per%cent.csv', 'hash#.csv', 'q?.csv', 'a.tmp-z.csv'];
    const folder = path.join(dir, 'urls');
    for (const name of [...names, '.tmp-x', 'sub/.tmp-y/z.csv']) {
      await fs.mkdir(path.dirname(path.join(folder, name)), { recursive: true });
      await fs.writeFile(path.join(folder, name), name);
    }
    const urls: string[] = [];
    for await (const o of store.list(dirUrl(folder))) urls.push(o.url);
    expect(urls.sort()).toEqual(names.map((name) => pathToFileURL(path.join(folder, name)).href).sort());
  });

  it('follows no link by default, and tells each one', async () => {
    expect(await listed('skip')).toEqual({
      urls: ['sub/real.csv'],
      skipped: ['symlink dangling.csv', 'symlink loop', 'symlink to-folder', 'symlink to-inside.csv', 'symlink to-outside.csv'],
    });
  });

  it('with links inside, lists a link to a file under the real folder, never one that leads out, to a folder or nowhere', async () => {
    const { urls, skipped } = await listed('inside');
    expect(urls).toEqual(['sub/real.csv', 'to-inside.csv']);
    expect(skipped).toEqual(['symlink dangling.csv', 'symlink loop', 'symlink to-folder', 'symlink to-outside.csv']);
    // A linked file reads as its target; moving it moves the link, the target stays.
    expect(await store.readBuffer(dirUrl(root) + 'to-inside.csv')).toEqual(Buffer.from('inside'));
    await store.move(dirUrl(root) + 'to-inside.csv', dirUrl(path.join(dir, 'archive')) + 'to-inside.csv');
    expect((await fs.lstat(path.join(dir, 'archive', 'to-inside.csv'))).isSymbolicLink()).toBe(true);
    expect(await fs.readFile(path.join(root, 'sub', 'real.csv'), 'utf8')).toBe('inside');
  });
});
