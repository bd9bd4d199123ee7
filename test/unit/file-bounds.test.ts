/**
 * The file bounds (MAX_RECORD_BYTES, MAX_COLUMNS, MAX_DECOMPRESSED_BYTES,
 * MAX_GZIP_RATIO) found while the bytes stream past: an endless record is
 * stopped after a few times the bound, never held whole; the name of the
 * setting is in the reason.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvByteBatches, csvRecordBatches, FileBoundError, openStreamFile, scanChunks, scanStreamFile } from '@musicflow/ingest';
import { createObjectStore, type ObjectInfo } from '@musicflow/storage';
import { fileIdOf, MAX_FILE_ID, planStreamFile, type PlanBounds } from '../../services/extractor/src/streams.ts';
import { dirUrl, tempDir } from '../helpers/env.ts';

const MiB = 1 << 20;
const BOUNDS: PlanBounds = { maxRecordBytes: MiB, maxColumns: 1000, maxDecompressedBytes: 64 * MiB, maxGzipRatio: 100, maxKeyBytes: 1024 };

/** A header, then zeros without end, in 64 KiB reads; `read.bytes` says how far a reader got. */
function endlessRecord(read: { bytes: number }): AsyncIterable<Buffer> {
  return (async function* () {
    const header = Buffer.from('user_id,track_id,listen_time\n');
    read.bytes += header.length;
    yield header;
    const zeros = Buffer.alloc(64 * 1024);
    for (;;) {
      read.bytes += zeros.length;
      yield zeros;
    }
  })();
}

async function drain(batches: AsyncIterable<unknown>): Promise<unknown> {
  try {
    for await (const _ of batches);
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('record bounds', () => {
  it('the byte reader stops an endless record after a few times MAX_RECORD_BYTES', async () => {
    const read = { bytes: 0 };
    const err = await drain(csvByteBatches(endlessRecord(read), 1, BOUNDS));
    expect(err).toBeInstanceOf(FileBoundError);
    expect((err as Error).message).toBe('record_too_long: the record at line 2 runs past MAX_RECORD_BYTES (1048576 bytes) without ending');
    expect(read.bytes).toBeLessThan(4 * MiB);
  });

  it('the planner’s scan stops an endless record once it passes MAX_RECORD_BYTES', async () => {
    const read = { bytes: 0 };
    await expect(scanChunks(Readable.from(endlessRecord(read)), 32 * MiB, undefined, MiB)).rejects.toThrow(/^record_too_long: the record at line 2/);
    expect(read.bytes).toBeLessThan(2 * MiB);
  });

  it('a record of more than MAX_COLUMNS fields', async () => {
    const wide = `a,b,c\n1,2,3\n${Array.from({ length: 1001 }, (_, i) => i).join(',')}\n`;
    expect(((await drain(csvByteBatches(Readable.from([Buffer.from(wide)]), 1, BOUNDS))) as Error).message).toMatch(
      /^too_many_columns: the record at line 3 has more than MAX_COLUMNS \(1000\)/,
    );
    // As many as allowed is fine.
    expect(await drain(csvByteBatches(Readable.from([Buffer.from(`${Array.from({ length: 1000 }, (_, i) => i).join(',')}\n`)]), 1, BOUNDS))).toBeUndefined();
  });

  it('csv-parse (the planner reads a .gz header with it) keeps MAX_RECORD_BYTES too', async () => {
    const bytes = Buffer.concat([Buffer.from('a,b\n1,2\n2,'), Buffer.alloc(3 * MiB, 0x61), Buffer.from('\n')]);
    expect(((await drain(csvRecordBatches(Readable.from([bytes]), 1, { bounds: BOUNDS }))) as Error).message).toMatch(
      /^record_too_long: the record at line 3 .*MAX_RECORD_BYTES/,
    );
  });
});

describe('gzip bounds and long names', () => {
  const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
  let dir: string;
  let streams: string;
  const put = async (name: string, bytes: Buffer): Promise<ObjectInfo> => {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), bytes);
    return (await store.head(streams + name.split('/').map(encodeURIComponent).join('/')))!;
  };
  beforeAll(async () => {
    dir = await tempDir('musicflow-bounds-');
    streams = dirUrl(dir);
  });
  afterAll(async () => {
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** `rows` copies of one good row after a header, gzipped: a ratio in the hundreds. */
  const repetitive = async (rows: number) => {
    const gzip = createGzip();
    const done = new Promise<Buffer>((resolve, reject) => {
      const parts: Buffer[] = [];
      gzip
        .on('data', (b: Buffer) => parts.push(b))
        .on('end', () => resolve(Buffer.concat(parts)))
        .on('error', reject);
    });
    gzip.write('user_id,track_id,listen_time\n');
    const block = Buffer.from('1,4dBa8T7oDV9WvGr7kVS4Ez,2024-06-25 17:43:13\n'.repeat(10_000));
    for (let i = 0; i < rows / 10_000; i++) gzip.write(block);
    gzip.end();
    return done;
  };

  it('stops inflating past MAX_DECOMPRESSED_BYTES or past MAX_GZIP_RATIO times the file, whichever comes first', async () => {
    const bomb = await put('bomb.csv.gz', await repetitive(500_000)); // about 22 MB in a few dozen KB
    const inflate = async (bounds: Pick<PlanBounds, 'maxDecompressedBytes' | 'maxGzipRatio'>) => {
      let inflated = 0;
      const err = await drain(
        (async function* () {
          for await (const b of await openStreamFile(store, bomb.url, { gzip: true, range: { start: 0, end: bomb.size }, inflate: bounds })) {
            inflated += (b as Buffer).length;
            yield b;
          }
        })(),
      );
      return { err: err as Error | undefined, inflated };
    };
    const byRatio = await inflate({ maxDecompressedBytes: 1024 ** 3, maxGzipRatio: 100 });
    expect(byRatio.err?.message).toBe(`gzip_ratio: inflates to more than MAX_GZIP_RATIO (100) times its ${bomb.size} bytes`);
    expect(byRatio.inflated).toBeLessThanOrEqual(Math.max(MiB, 100 * bomb.size));
    const bySize = await inflate({ maxDecompressedBytes: 2 * MiB, maxGzipRatio: 10_000 });
    expect(bySize.err?.message).toBe('gzip_too_large: inflates past MAX_DECOMPRESSED_BYTES (2097152 bytes)');
    expect(bySize.inflated).toBeLessThanOrEqual(2 * MiB);
    expect((await inflate({ maxDecompressedBytes: 1024 ** 3, maxGzipRatio: 10_000 })).err).toBeUndefined();
  });

  it('a small file that compresses well is not a bomb: the ratio counts past 1 MiB only', async () => {
    const small = await put('small.csv.gz', gzipSync(`user_id,track_id,listen_time\n${'1,a,2024-06-25 10:00:00\n'.repeat(20_000)}`));
    expect(await planStreamFile(store, streams, small, MiB, BOUNDS)).toHaveProperty('segments');
  });

  it('the planner rejects a gzip whose header record never ends; a header of too many columns is rejected', async () => {
    // Letters that do not compress much: the record's length, not the ratio, is what it breaks.
    const letters = Buffer.alloc(3 * MiB);
    for (let i = 0, seed = 1; i < letters.length; i++) letters[i] = 0x61 + ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 27);
    const endless = await put('endless.csv.gz', gzipSync(letters));
    expect(await planStreamFile(store, streams, endless, MiB, BOUNDS)).toEqual({
      rejected: { file: endless.url, reasons: [expect.stringMatching(/^record_too_long: the record at line 1 .*MAX_RECORD_BYTES/)] },
    });
    // The header check the plan and the validator share (the plan leaves a small file's header to the validator).
    const wide = Buffer.from(`user_id,track_id,listen_time${',x'.repeat(1000)}\n1,a,2024-06-25 10:00:00\n`);
    expect(await scanStreamFile(wide, wide.length, wide.length, BOUNDS)).toEqual({
      reason: 'too_many_columns: the header has 1003 columns, over MAX_COLUMNS (1000)',
    });
  });

  it('cuts a long file id to MAX_FILE_ID with a digest of the whole, distinct and stable', () => {
    const a = fileIdOf(streams, `${streams}${'n'.repeat(200)}/${'m'.repeat(200)}/a.csv`);
    const b = fileIdOf(streams, `${streams}${'n'.repeat(200)}/${'m'.repeat(200)}/b.csv`);
    expect(a).toHaveLength(MAX_FILE_ID);
    expect(a).toMatch(/^n+~[0-9a-f]{8}$/);
    expect(b).not.toBe(a);
    expect(fileIdOf(streams, `${streams}${'n'.repeat(200)}/${'m'.repeat(200)}/a.csv`)).toBe(a);
    expect(fileIdOf(streams, `${streams}short/a.csv`)).toBe('short__a');
  });
});
