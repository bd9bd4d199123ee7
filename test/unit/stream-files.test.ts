/**
 * Cutting stream files into chunks (scanChunks) and planning them
 * (planStreamFile): boundaries only at record ends, right line numbers, the
 * header checks of SPEC 3, `.csv.gz`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStreamFile, scanChunks, scanStreamFile, WHOLE_READ_BYTES } from '@musicflow/ingest';
import { createObjectStore, type ObjectStore, type SkippedEntry } from '@musicflow/storage';
import { fileIdOf, listStreamFiles, MAX_SEGMENTS_PER_CHUNK, packBytesFor, packChunks, planStreamFile } from '../../services/extractor/src/streams.ts';
import type { Segment } from '@musicflow/contracts';
import { CSV_READERS, type CsvReader } from '../helpers/csv-readers.ts';
import { dirUrl, fileUrl, tempDir } from '../helpers/env.ts';

const pieces = (bytes: Buffer, size: number) => {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out.length ? out : [Buffer.alloc(0)];
};

const count = (buf: Buffer, byte: number) => buf.reduce((n, b) => n + (b === byte ? 1 : 0), 0);

/** A stream file whose rows include quoted fields with commas, doubled quotes and line ends. */
function sampleFile(rows: number, lineEnd = '\n'): Buffer {
  const lines = ['\uFEFFuser_id,track_id,listen_time,note'];
  for (let i = 1; i <= rows; i++) {
    const note = i % 7 === 0 ? `"multi${lineEnd}line, ""quoted"" ${i}${lineEnd}end"` : i % 5 === 0 ? `"a,b ${i}"` : `n${i}`;
    lines.push(`${i},trk-${i},2024-06-25 10:${String(i % 60).padStart(2, '0')}:00,${note}`);
  }
  return Buffer.from(lines.join(lineEnd) + lineEnd);
}

async function parseAll(reader: CsvReader, bytes: Buffer, firstLine = 1) {
  const out: { fields: string[]; line: number }[] = [];
  for await (const r of reader.records(Readable.from([bytes]), firstLine)) out.push(r);
  return out;
}

describe('scanChunks', () => {
  it.each([
    ['LF', '\n'],
    ['CRLF', '\r\n'],
  ])('cuts only at record ends, numbers lines, and the chunks rebuild the file (%s)', async (_name, lineEnd) => {
    const file = sampleFile(120, lineEnd);
    const whole = await parseAll(CSV_READERS[0]!, file);
    for (const chunkBytes of [1, 37, 200, 1000, 1 << 20]) {
      for (const pieceSize of [1, 5, 64, file.length]) {
        const scan = await scanChunks(Readable.from(pieces(file, pieceSize)), chunkBytes);
        // Bytes held whole are scanned without a stream, to the same result.
        expect(await scanChunks(file, chunkBytes)).toEqual(scan);
        // No empty chunk: each would be a job with nothing to do.
        for (const c of scan.chunks) expect(c.end).toBeGreaterThan(c.start);
        expect(scan.size).toBe(file.length);
        expect(scan.headerBytes.toString()).toBe('\uFEFFuser_id,track_id,listen_time,note');

        const headerEnd = file.indexOf('\n') + 1;
        expect(scan.chunks[0]!.start).toBe(headerEnd);
        expect(scan.chunks.at(-1)!.end).toBe(file.length);
        expect(Buffer.concat(scan.chunks.map((c) => file.subarray(c.start, c.end)))).toEqual(file.subarray(headerEnd));

        for (const [i, c] of scan.chunks.entries()) {
          if (i > 0) expect(c.start).toBe(scan.chunks[i - 1]!.end);
          // A boundary is a line end outside quotes: an even number of quotes before it.
          expect(file[c.end - 1]).toBe(0x0a);
          expect(count(file.subarray(0, c.end), 0x22) % 2).toBe(0);
          if (i < scan.chunks.length - 1) expect(c.end - c.start).toBeGreaterThanOrEqual(chunkBytes);
          expect(c.firstLine).toBe(1 + count(file.subarray(0, c.start), 0x0a));
        }
        // Every record, parsed chunk by chunk by either reader, has the fields and line number of a whole-file parse.
        for (const reader of CSV_READERS) {
          const fromChunks: { fields: string[]; line: number }[] = [];
          for (const c of scan.chunks) fromChunks.push(...(await parseAll(reader, file.subarray(c.start, c.end), c.firstLine)));
          expect(fromChunks, reader.name).toEqual(whole.slice(1));
        }
      }
    }
  });

  it('never splits a quoted field whose line end straddles the chunk size', async () => {
    const file = Buffer.from('h1,h2\n1,"ab\ncd"\n2,x\n');
    // The header ends at byte 6; with chunkBytes 4 a quote-blind cutter would cut after "ab\n" (byte 10).
    const scan = await scanChunks(Readable.from(pieces(file, 3)), 4);
    expect(scan.chunks).toEqual([
      { start: 6, end: 16, firstLine: 2 },
      { start: 16, end: 20, firstLine: 4 },
    ]);
  });

  it('handles an empty file, a header-only file, and a header without a line end', async () => {
    expect(await scanChunks(Readable.from([Buffer.alloc(0)]), 10)).toEqual({
      headerBytes: Buffer.alloc(0),
      size: 0,
      chunks: [{ start: 0, end: 0, firstLine: 1 }],
    });
    const headerOnly = await scanChunks(Readable.from([Buffer.from('user_id,track_id,listen_time\r\n')]), 10);
    expect(headerOnly.headerBytes.toString()).toBe('user_id,track_id,listen_time');
    expect(headerOnly.chunks).toEqual([{ start: 30, end: 30, firstLine: 2 }]);
    const noEol = await scanChunks(Readable.from([Buffer.from('user_id,track_id,listen_time')]), 10);
    expect(noEol.headerBytes.toString()).toBe('user_id,track_id,listen_time');
    expect(noEol.chunks).toEqual([{ start: 28, end: 28, firstLine: 1 }]);
  });

  it('keeps a header with a quoted line end whole', async () => {
    const scan = await scanChunks(Readable.from([Buffer.from('"user\nid",track_id\n1,a\n')]), 1);
    expect(scan.headerBytes.toString()).toBe('"user\nid",track_id');
    expect(scan.chunks).toEqual([{ start: 19, end: 23, firstLine: 3 }]);
  });

  it('stops at the header of a file of one chunk, and gives the same chunk as a whole scan', async () => {
    const file = sampleFile(50, '\r\n');
    const headerEnd = file.indexOf('\n') + 1;
    // Whatever follows the header is never read: here it would fail the scan.
    const headerThenFailure = () =>
      Readable.from(
        (function* () {
          yield file.subarray(0, headerEnd + 3);
          throw new Error('read past the header');
        })(),
      );
    const stopped = await scanChunks(headerThenFailure(), file.length, file.length);
    expect(stopped).toEqual(await scanChunks(Readable.from([file]), file.length));
    expect(await scanChunks(file, file.length, file.length)).toEqual(stopped);
    expect(stopped.chunks).toEqual([{ start: headerEnd, end: file.length, firstLine: 2 }]);
    // A header spanning lines (a quoted line end) moves the chunk's first line.
    const quoted = Buffer.from('"user\nid",track_id\n1,a\n');
    expect((await scanChunks(Readable.from([quoted]), 100, quoted.length)).chunks).toEqual([{ start: 19, end: 23, firstLine: 3 }]);
    // A file bigger than a chunk is scanned whole.
    await expect(scanChunks(headerThenFailure(), 100, file.length)).rejects.toThrow(/read past the header/);
  });

  it('gives up on a file with no line end in its first MiB', async () => {
    await expect(scanChunks(Readable.from(pieces(Buffer.alloc((1 << 20) + 100, 0x61), 65536)), 1000)).rejects.toThrow(/no line end/);
  });
});

describe('planStreamFile', () => {
  let dir: string;
  let streams: string;
  let store: ObjectStore;

  const put = async (name: string, body: string | Buffer) => {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), body);
    return (await store.head(fileUrl(path.join(dir, name))))!;
  };

  beforeAll(async () => {
    dir = await tempDir('musicflow-plan-');
    streams = dirUrl(dir);
    store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
  });
  afterAll(async () => {
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('plans chunks of a file with columns in any order, extra columns, BOM and CRLF', async () => {
    const body = '\uFEFFextra,listen_time,track_id,user_id\r\n' + Array.from({ length: 50 }, (_, i) => `x,2024-06-25 10:00:00,t${i},${i + 1}\r\n`).join('');
    const info = await put('2024/day 1/streams.csv', body);
    const plan = await planStreamFile(store, streams, info, 300);
    if (!('segments' in plan)) throw new Error(JSON.stringify(plan));
    expect(plan.segments.length).toBeGreaterThan(2);
    const fileId = fileIdOf(streams, info.url);
    // Stable and safe in object names (the space arrives URL-encoded, so it is `%20` made safe).
    expect(fileId).toMatch(/^2024__day_[A-Za-z0-9._=-]*1__streams$/);
    for (const [i, c] of plan.segments.entries()) {
      expect(c).toMatchObject({ fileId, fileUrl: info.url, index: i, count: plan.segments.length, gzip: false });
      expect(c.header).toEqual(['extra', 'listen_time', 'track_id', 'user_id']);
    }
    // Reading each segment's range gives every row once, with its file line number, with either reader.
    for (const reader of CSV_READERS) {
      const rows: [string, number][] = [];
      for (const c of plan.segments) {
        for await (const r of reader.records(await openStreamFile(store, c.fileUrl, { gzip: false, range: c }), c.firstLine)) rows.push([r.fields[3]!, r.line]);
      }
      expect(rows, reader.name).toEqual(Array.from({ length: 50 }, (_, i) => [String(i + 1), i + 2]));
    }
    // Planning again gives the same segments (retries must not duplicate jobs).
    expect(await planStreamFile(store, streams, info, 300)).toEqual(plan);
  });

  it('cuts a file into as many chunks as chunkBytes asks for, of equal size', async () => {
    const row = (i: number) => `${i + 1},t${String(i).padStart(6, '0')},2024-06-25 10:00:00\n`;
    const body = 'user_id,track_id,listen_time\n' + Array.from({ length: 2500 }, (_, i) => row(i)).join('');
    const info = await put('equal.csv', body);
    // 2.5 chunks' worth: three chunks of about a third each, not two full ones and a half.
    const plan = await planStreamFile(store, streams, info, Math.ceil(info.size / 2.5));
    if (!('segments' in plan)) throw new Error(JSON.stringify(plan));
    const sizes = plan.segments.map((c) => c.end - c.start);
    expect(sizes).toHaveLength(3);
    for (const size of sizes) expect(Math.abs(size - info.size / 3)).toBeLessThanOrEqual(2 * row(0).length + 30);
  });

  it('leaves a small file of one chunk unread: one segment from its first byte, its header for the validator', async () => {
    // A header that rejects the file: the plan does not read it, so does not know.
    const info = await put('small-missing.csv', 'user_id,when\n1,2024-06-25 10:00:00\n');
    expect(await planStreamFile(store, streams, info, 1000)).toEqual({
      segments: [{ fileId: 'small-missing', fileUrl: info.url, index: 0, count: 1, start: 0, end: info.size, firstLine: 1, gzip: false }],
    });
    // Past WHOLE_READ_BYTES a file of one chunk is still read as far as its header, and checked here.
    const big = await put('big-missing.csv', `user_id,when\n${'1,2024-06-25 10:00:00\n'.repeat(Math.ceil(WHOLE_READ_BYTES / 20))}`);
    expect(await planStreamFile(store, streams, big, 2 * WHOLE_READ_BYTES)).toEqual({
      rejected: { file: big.url, reasons: ['missing column(s): track_id, listen_time'] },
      header: ['user_id', 'when'],
    });
  });

  it('rejects a file whose header names a required column twice, naming it (.csv cut in chunks and .csv.gz)', async () => {
    const body = 'user_id,track_id,listen_time,user_id,extra,extra\n1,t1,2024-06-25 10:00:00,2,x,y\n';
    const info = await put('twice.csv', body);
    expect(await planStreamFile(store, streams, info, 20)).toEqual({
      rejected: { file: info.url, reasons: ['column(s) named more than once in the header: user_id'] },
      header: ['user_id', 'track_id', 'listen_time', 'user_id', 'extra', 'extra'],
    });
    const zipped = await put('twice.csv.gz', gzipSync(body));
    expect(await planStreamFile(store, streams, zipped, 1000)).toEqual({
      rejected: { file: zipped.url, reasons: ['column(s) named more than once in the header: user_id'] },
      header: ['user_id', 'track_id', 'listen_time', 'user_id', 'extra', 'extra'],
    });
  });
  it('reads the header of a .csv.gz file and plans it as one chunk', async () => {
    const body = 'track_id,user_id,listen_time\r\nt1,1,2024-06-25T10:00:00Z\r\nt2,2,2024-06-25T11:00:00+01:00\r\n';
    const info = await put('zipped.csv.gz', gzipSync(body));
    const plan = await planStreamFile(store, streams, info, 10);
    expect(plan).toEqual({
      segments: [
        expect.objectContaining({
          fileId: 'zipped',
          start: 0,
          end: info.size,
          firstLine: 1,
          gzip: true,
          index: 0,
          count: 1,
          header: ['track_id', 'user_id', 'listen_time'],
        }),
      ],
    });
    for (const reader of CSV_READERS) {
      const rows: string[][] = [];
      for await (const r of reader.records(await openStreamFile(store, info.url, { gzip: true }))) rows.push(r.fields);
      expect(rows, reader.name).toEqual([
        ['track_id', 'user_id', 'listen_time'],
        ['t1', '1', '2024-06-25T10:00:00Z'],
        ['t2', '2', '2024-06-25T11:00:00+01:00'],
      ]);
    }
  });

  it('rejects a .csv.gz with a missing column, an empty one, and a corrupt one', async () => {
    const missing = await put('gz-missing.csv.gz', gzipSync('user_id\n1\n'));
    expect(await planStreamFile(store, streams, missing, 10)).toEqual({
      rejected: { file: missing.url, reasons: ['missing column(s): track_id, listen_time'] },
      header: ['user_id'],
    });
    const empty = await put('gz-empty.csv.gz', gzipSync(''));
    expect(await planStreamFile(store, streams, empty, 10)).toMatchObject({ rejected: { reasons: [expect.stringMatching(/empty file/)] } });
    const corrupt = await put('gz-corrupt.csv.gz', Buffer.from('this is not gzip at all\n'));
    expect(await planStreamFile(store, streams, corrupt, 10)).toMatchObject({ rejected: { file: corrupt.url, reasons: [expect.stringMatching(/gzip/)] } });
  });

  it('leaves an unterminated quote to the chunk reader, which reports its line', async () => {
    const info = await put(
      'unterminated.csv',
      'user_id,track_id,listen_time\n1,a,2024-06-25 10:00:00\n2,"b,2024-06-25 10:00:00\n3,c,2024-06-25 10:00:00\n4,d,2024-06-25 10:00:00\n',
    );
    const plan = await planStreamFile(store, streams, info, 8);
    if (!('segments' in plan)) throw new Error('expected chunks');
    const last = plan.segments.at(-1)!;
    // Nothing after the open quote can be a boundary: the rest of the file is one chunk.
    expect(last).toMatchObject({ start: 53, end: info.size, firstLine: 3 });
    const read = async (reader: CsvReader) => {
      for await (const _ of reader.records(await openStreamFile(store, info.url, { gzip: false, range: last }), last.firstLine));
    };
    for (const reader of CSV_READERS) await expect(read(reader), reader.name).rejects.toMatchObject({ line: 3 });
  });
});

describe('listStreamFiles', () => {
  it('lists a folder once: packs by the bytes of a day of fewer files than it holds, else by CHUNK_BYTES, with the same files and entries left out', async () => {
    const dir = await tempDir('musicflow-listing-');
    const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
    try {
      for (let i = 0; i < 6; i++) await fs.writeFile(path.join(dir, `s${i}.csv`), 'x'.repeat(10 + i));
      await fs.writeFile(path.join(dir, 'notes.txt'), 'not a stream file');
      await fs.symlink(path.join(dir, 's0.csv'), path.join(dir, 'link.csv'));
      let lists = 0;
      const counted: ObjectStore = { ...store, list: (url, options) => (lists++, store.list(url, options)) };
      const chunkBytes = 32 << 20;
      const listing = async (sizedFiles: number) => {
        lists = 0;
        const skipped: SkippedEntry[] = [];
        const found = await listStreamFiles(counted, dirUrl(dir), {
          wanted: (f) => f.url.endsWith('.csv'),
          skipped: (e) => skipped.push(e),
          chunkBytes,
          sizedFiles,
        });
        const files: string[] = [];
        for await (const file of found.files) files.push(`${path.basename(new URL(file.url).pathname)} ${file.size}`);
        return { lists, packBytes: found.packBytes, files, skipped: skipped.map((e) => `${e.kind} ${path.basename(e.url)}`) };
      };
      const expected = {
        lists: 1,
        files: Array.from({ length: 6 }, (_, i) => `s${i}.csv ${10 + i}`),
        skipped: ['symlink link.csv'],
      };
      // 75 bytes in all: the least pack size.
      expect(await listing(7)).toEqual({ ...expected, packBytes: packBytesFor(75, chunkBytes) });
      expect(await listing(6)).toEqual({ ...expected, packBytes: chunkBytes });
      expect(await listing(1)).toEqual({ ...expected, packBytes: chunkBytes });
      expect(packBytesFor(75, chunkBytes)).not.toBe(chunkBytes);
    } finally {
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it('hands out a folder of more files than it holds before the listing ends', async () => {
    const dir = await tempDir('musicflow-listing-');
    const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
    try {
      for (let i = 0; i < 5; i++) await fs.writeFile(path.join(dir, `s${i}.csv`), 'x');
      let listedSoFar = 0;
      const counting: ObjectStore = {
        ...store,
        list: async function* (url, options) {
          for await (const file of store.list(url, options)) {
            listedSoFar++;
            yield file;
          }
        },
      };
      const found = await listStreamFiles(counting, dirUrl(dir), { wanted: () => true, skipped: () => undefined, chunkBytes: 1 << 20, sizedFiles: 2 });
      const seen: number[] = [];
      for await (const _ of found.files) seen.push(listedSoFar);
      // The first two were held; each later one is handed out as soon as it is listed.
      expect(seen).toEqual([2, 2, 3, 4, 5]);
    } finally {
      await store.close();
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('fileIdOf', () => {
  it('is the key under the streams folder, decoded and made safe for object names', () => {
    expect(fileIdOf('s3://b/in/', 's3://b/in/2024/streams1.csv.gz')).toBe('2024__streams1');
    expect(fileIdOf('file:///data/in/', 'file:///data/in/day%201/a%2Bb.csv')).toBe('day_1__a_b');
  });
});

describe('packChunks', () => {
  const segment = (file: string, bytes: number, index = 0, count = 1): Segment => ({
    fileId: file,
    fileUrl: `s3://b/in/${file}.csv`,
    index,
    count,
    start: 0,
    end: bytes,
    firstLine: 1,
    header: ['user_id', 'track_id', 'listen_time'],
    gzip: false,
  });
  const files = (chunks: ReturnType<typeof packChunks>) => chunks.map((c) => c.segments.map((s) => `${s.fileId}:${s.index}`));

  it('packs small files together up to the pack size and keeps big segments alone', () => {
    const chunks = packChunks(
      [segment('a', 300), segment('b', 300), segment('c', 300), segment('big', 5000, 0, 2), segment('big', 5000, 1, 2), segment('d', 900), segment('e', 200)],
      1000,
    );
    expect(files(chunks)).toEqual([['big:0'], ['big:1'], ['a:0', 'b:0', 'c:0'], ['d:0'], ['e:0']]);
  });

  it('gives the same ids when planned again, different ids to different packs', () => {
    const segments = Array.from({ length: 50 }, (_, i) => segment(`f${i}`, 100));
    const once = packChunks(segments, 1000);
    expect(packChunks(segments, 1000)).toEqual(once);
    expect(new Set(once.map((c) => c.chunkId)).size).toBe(once.length);
    expect(once.flatMap((c) => c.segments)).toEqual(segments);
  });

  it('bounds the segments of one chunk, however small the files', () => {
    const segments = Array.from({ length: 2 * MAX_SEGMENTS_PER_CHUNK + 1 }, (_, i) => segment(`f${i}`, 1));
    expect(packChunks(segments, 1 << 30).map((c) => c.segments.length)).toEqual([MAX_SEGMENTS_PER_CHUNK, MAX_SEGMENTS_PER_CHUNK, 1]);
  });

  it('spreads a day of small files over at least eight packs, at least 1 MiB each, at most CHUNK_BYTES', () => {
    expect(packBytesFor(49_000_000, 32 << 20)).toBe(Math.ceil(49_000_000 / 8));
    expect(packBytesFor(3_000_000, 32 << 20)).toBe(1 << 20);
    expect(packBytesFor(10_000_000_000, 32 << 20)).toBe(32 << 20);
  });
});

describe('scanStreamFile (the header check of the plan and of the validator)', () => {
  it('rejects a file missing columns, naming every missing column, with its header for schema drift', async () => {
    const bytes = Buffer.from('user_id,when\n1,2024-06-25 10:00:00\n');
    expect(await scanStreamFile(bytes, bytes.length, bytes.length)).toEqual({
      reason: 'missing column(s): track_id, listen_time',
      header: ['user_id', 'when'],
    });
  });

  it('rejects a header naming a required column twice, an empty file, an unparsable header; accepts a header-only file as one empty range', async () => {
    const twice = Buffer.from('user_id,track_id,listen_time,user_id,extra,extra\n1,t1,2024-06-25 10:00:00,2,x,y\n');
    expect(await scanStreamFile(twice, twice.length, twice.length)).toEqual({
      reason: 'column(s) named more than once in the header: user_id',
      header: ['user_id', 'track_id', 'listen_time', 'user_id', 'extra', 'extra'],
    });
    expect(await scanStreamFile(Buffer.alloc(0), 1, 0)).toEqual({ reason: expect.stringMatching(/^empty file/) });
    const unparsable = Buffer.from('user_id,"track_id"x,listen_time\n');
    expect(await scanStreamFile(unparsable, unparsable.length, unparsable.length)).toEqual({
      reason: expect.stringMatching(/^line 1: header cannot be parsed/),
    });
    const headerOnly = Buffer.from('user_id,track_id,listen_time\n');
    expect(await scanStreamFile(headerOnly, 1000, headerOnly.length)).toEqual({
      header: ['user_id', 'track_id', 'listen_time'],
      ranges: [{ start: 29, end: 29, firstLine: 2 }],
    });
  });
});
