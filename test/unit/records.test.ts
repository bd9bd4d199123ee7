/** The lake's binary record artifacts (packages/lake/src/artifacts/records.ts): a chunk's segments, the run's file list. */
import fs from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { RunFile, Segment } from '@musicflow/contracts';
import { loadedFilesSlices, readChunkSegments, readRunFiles, writeChunkSegments, writeRunFiles } from '@musicflow/lake';
import { createObjectStore } from '@musicflow/storage';
import { runIn, tempDir } from '../helpers/env.ts';
import { RecordDecoder, RecordEncoder } from '../../packages/lake/src/artifacts/records.ts';

const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });

describe('binary records', () => {
  it('gives back what was encoded, and refuses a record whose fields do not fill its length or run past it', () => {
    const out = new RecordEncoder();
    out.begin();
    out.u8(7);
    out.u32(0xfffffffe);
    out.f64(2 ** 53 - 1);
    out.text('déjà €');
    out.optionalText(undefined);
    out.optionalText('');
    out.end();
    // Longer than the encoder's first buffer: it grows.
    out.begin();
    out.text('x'.repeat(200_000));
    out.end();
    const bytes = out.take();
    const d = new RecordDecoder(bytes, 'mem://a');
    expect(d.next()).toBe(true);
    expect([d.u8(), d.u32(), d.count('n'), d.text(), d.optionalText(), d.optionalText()]).toEqual([7, 0xfffffffe, 2 ** 53 - 1, 'déjà €', undefined, '']);
    expect(d.next()).toBe(true);
    expect(d.text()).toHaveLength(200_000);
    expect(d.next()).toBe(false);

    const first = new RecordDecoder(bytes, 'mem://a');
    first.next();
    first.u8();
    expect(() => first.next()).toThrow(/mem:\/\/a: record 1, byte 5: its fields end at byte 5, its length says \d+/);
    const past = new RecordDecoder(bytes, 'mem://a');
    past.next();
    past.u8();
    past.u32();
    past.f64();
    past.text();
    past.optionalText();
    past.optionalText();
    expect(() => past.u8()).toThrow(/record 1, .*a field runs past the end of its record/);
    const notCount = new RecordDecoder(bytes, 'mem://a');
    notCount.next();
    notCount.u8();
    // The u32's bytes and half the f64's, read as an f64: not a whole number.
    expect(() => notCount.count('rows read')).toThrow(/rows read is .*, not a count/);
    const cut = new RecordDecoder(bytes.subarray(0, 30), 'mem://a', 5);
    expect(() => cut.next()).toThrow(/mem:\/\/a: record 5, byte 4: cut short \(a record of \d+ bytes\)/);
  });

  it("round-trips a chunk's segments (with and without a header, names not ASCII), and refuses one that does not add up", async () => {
    const dir = await tempDir();
    const run = runIn(dir);
    const segments: Segment[] = [
      {
        fileId: 'a',
        fileUrl: `${run.sources.streams}a.csv`,
        index: 0,
        count: 3,
        start: 0,
        end: 9_000_000_000,
        firstLine: 1,
        gzip: false,
        header: ['user_id', 'track_id', 'listen_time'],
      },
      { fileId: 'd%C3%A9j%C3%A0', fileUrl: `${run.sources.streams}déjà.csv.gz`, index: 0, count: 1, start: 0, end: 10, firstLine: 1, gzip: true, header: [] },
      ...Array.from({ length: 5_000 }, (_, i): Segment => ({
        fileId: `f${i}`,
        fileUrl: `${run.sources.streams}f${i}.csv`,
        index: 0,
        count: 1,
        start: 0,
        end: 80,
        firstLine: 1,
        gzip: false,
      })),
    ];
    try {
      const url = await writeChunkSegments(store, run, 'chunk1', segments);
      expect(await readChunkSegments(store, url)).toEqual(segments);
      const bad = await writeChunkSegments(store, run, 'chunk2', [{ ...segments[0]!, index: 3 }]);
      await expect(readChunkSegments(store, bad)).rejects.toThrow(/chunk2\.segments\.bin: record 1, .*segment 3 of 3/);
      // gzip is at byte 36, after the record's length, two u32 and three f64: 2 is neither yes nor no.
      const flagged = new URL(await writeChunkSegments(store, run, 'chunk3', [segments[0]!]));
      const bytes = await fs.readFile(flagged);
      bytes[4 + 2 * 4 + 3 * 8] = 2;
      await fs.writeFile(flagged, bytes);
      await expect(readChunkSegments(store, flagged.href)).rejects.toThrow(/chunk3\.segments\.bin: record 1, byte 36: gzip is 2, not 0 or 1/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("reads the run's file list across the store's pieces and in slices, and refuses a list cut short, naming the record", async () => {
    const dir = await tempDir();
    const run = runIn(dir);
    const files: RunFile[] = Array.from({ length: 3_000 }, (_, i) =>
      i % 7 === 3
        ? {
            file: `${run.sources.streams}r${i}.csv`,
            status: 'rejected',
            rowsRead: 10,
            rowsValid: 0,
            rowsRejected: 10,
            duplicate: 0,
            reason: 'bad rows: 100 %',
            fileId: `r${i}`,
          }
        : {
            file: `${run.sources.streams}${'l'.repeat(i % 300)}${i}.csv`,
            status: 'loaded',
            rowsRead: 10,
            rowsValid: 9,
            rowsRejected: 1,
            duplicate: i % 2,
            fileId: `l${i}`,
          },
    );
    const planned: RunFile = {
      file: `${run.sources.streams}empty.csv`,
      status: 'rejected',
      rowsRead: 0,
      rowsValid: 0,
      rowsRejected: 0,
      duplicate: 0,
      reason: 'no header',
    };
    try {
      const url = await writeRunFiles(store, run, [[planned], files.slice(0, 1_000), files.slice(1_000)]);
      expect((await fs.stat(new URL(url))).size).toBeGreaterThan(4 * (64 << 10));
      const read: RunFile[] = [];
      for await (const batch of readRunFiles(store, url)) read.push(...batch);
      expect(read).toEqual([planned, ...files]);

      const sliced: RunFile[] = [];
      for await (const slice of loadedFilesSlices(store, url, 500)) {
        const inSlice: RunFile[] = [];
        for await (const batch of readRunFiles(store, url, slice)) inSlice.push(...batch);
        expect(inSlice.filter((f) => f.status === 'loaded')).toHaveLength(slice.loaded);
        sliced.push(...inSlice);
      }
      // Rejected files after the last loaded one are in no slice: the archive moves loaded files only.
      expect(sliced.filter((f) => f.status === 'loaded')).toEqual(files.filter((f) => f.status === 'loaded'));

      await fs.truncate(new URL(url), (await fs.stat(new URL(url))).size - 2);
      await expect(async () => {
        for await (const _ of readRunFiles(store, url));
      }).rejects.toThrow(/files\.bin: record 3001, byte \d{6,}: cut short/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
