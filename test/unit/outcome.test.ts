/**
 * SPEC 3: the bad-row threshold (default 5% of a file's rows, over all of its
 * chunks) and parse errors reject a whole file.
 */
import fs from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import type { SegmentOutcome } from '@musicflow/contracts';
import { FileDecisions, type FileOutcome } from '@musicflow/ingest';
import {
  loadedFileIds,
  plannedOutFilesWriter,
  readDecidedFiles,
  readPackQuarantines,
  readRunFiles,
  readSegmentValidations,
  RunFilesWriter,
  runFilesWithDuplicates,
  RunTally,
  writeFileDuplicates,
  writePackFiles,
  writeSegmentOutcomes,
  writeSegmentValidations,
} from '@musicflow/lake';
import { createObjectStore } from '@musicflow/storage';
import { runIn, tempDir } from '../helpers/env.ts';
import { biggestDatesFirst } from '../../services/kpi/src/outcome.ts';

/** Segment `index` of `count` of a file, validated and transformed. */
function segment(fileUrl: string, rowsRead: number, rowsValid: number, parseError?: string, index = 0, count = 1): SegmentOutcome {
  const fileId = fileUrl
    .split('/')
    .pop()!
    .replace(/\.csv.*/, '');
  return {
    validation: {
      fileId,
      fileUrl,
      index,
      count,
      parseError,
      rowsRead,
      rowsValid,
      rejected: rowsRead > rowsValid ? { invalid_user_id: rowsRead - rowsValid } : {},
      events: rowsValid,
    },
    parts: [],
    orphanTracks: 0,
    orphanUsers: 0,
  };
}

/** Every file of `segments`, decided as the publish step does (segments one at a time), by name. */
function decideFiles(segments: SegmentOutcome[], threshold: number): FileOutcome[] {
  const decisions = new FileDecisions(threshold);
  const files = segments.map((s) => decisions.add(s)).filter((f): f is FileOutcome => f !== undefined);
  return [...files, ...decisions.finish()].sort((a, b) => a.url.localeCompare(b.url));
}

const verdicts = (segments: SegmentOutcome[], threshold = 0.05) =>
  Object.fromEntries(decideFiles(segments, threshold).map((f) => [f.url.split('/').pop(), f.rejectedReasons]));

describe('decideFiles', () => {
  it('accepts exactly 5% bad rows and rejects just over', () => {
    expect(
      verdicts([
        segment('s3://b/in/exact.csv', 100, 95), // 5 of 100 = 5%: accepted
        segment('s3://b/in/over.csv', 100, 94), // 6 of 100: rejected
        segment('s3://b/in/exact-big.csv', 1_000_000, 950_000), // 50000 of 1e6 = 5%: accepted
        segment('s3://b/in/just-over.csv', 1_000_000, 949_999), // 50001 of 1e6: rejected
        segment('s3://b/in/clean.csv', 10, 10),
      ]),
    ).toEqual({
      'clean.csv': [],
      'exact-big.csv': [],
      'exact.csv': [],
      'just-over.csv': [expect.stringMatching(/^50001 of 1000000 rows are bad \(5\.0%\), more than the 5\.0% allowed$/)],
      'over.csv': [expect.stringMatching(/^6 of 100 rows are bad \(6\.0%\)/)],
    });
  });

  it('accepts exactly 5% for every row count where 5% is whole (no floating-point slip)', () => {
    const transforms: SegmentOutcome[] = [];
    for (let rows = 20; rows <= 20_000; rows += 20) transforms.push(segment(`s3://b/in/f${rows}.csv`, rows, rows - rows / 20));
    const rejected = decideFiles(transforms, 0.05).filter((f) => f.rejectedReasons.length);
    expect(rejected.map((f) => f.url)).toEqual([]);
    const over = decideFiles(
      transforms.map((t) => t.validation).map((v) => segment(v.fileUrl, v.rowsRead, v.rowsValid - 1)),
      0.05,
    );
    expect(over.filter((f) => f.rejectedReasons.length === 0)).toEqual([]);
  });

  it('sums bad rows over all chunks of a file', () => {
    // a: (3 + 3) bad of (60 + 40) rows = 6%: rejected, though its first chunk alone is at 5%.
    // b: (2 + 3) bad of (60 + 40) rows = 5%: accepted, though its second chunk alone is at 7.5%.
    expect(
      verdicts([
        segment('file:///in/a.csv', 60, 57, undefined, 0, 2),
        segment('file:///in/b.csv', 60, 58, undefined, 0, 2),
        segment('file:///in/a.csv', 40, 37, undefined, 1, 2),
        segment('file:///in/b.csv', 40, 37, undefined, 1, 2),
      ]),
    ).toEqual({ 'a.csv': [expect.stringMatching(/^6 of 100 rows/)], 'b.csv': [] });
  });

  it('uses the configured threshold', () => {
    expect(verdicts([segment('file:///in/a.csv', 100, 99), segment('file:///in/b.csv', 100, 100)], 0)).toEqual({
      'a.csv': [expect.stringMatching(/more than the 0\.0% allowed/)],
      'b.csv': [],
    });
    expect(verdicts([segment('file:///in/a.csv', 100, 80)], 0.2)).toEqual({ 'a.csv': [] });
  });

  it('rejects a file when any chunk cannot be parsed, even with no bad rows', () => {
    const files = decideFiles(
      [
        segment('file:///in/a.csv', 3, 3, 'line 57: Quote Not Closed', 1, 2),
        segment('file:///in/b.csv', 5, 5),
        segment('file:///in/a.csv', 10, 10, undefined, 0, 2),
      ],
      0.05,
    );
    expect(files.map((f) => [f.fileId, f.segments.length, f.rejectedReasons])).toEqual([
      ['a', 2, [expect.stringMatching(/cannot be parsed as CSV: line 57: Quote Not Closed/)]],
      ['b', 1, []],
    ]);
  });

  it('accepts a header-only file (no rows, nothing bad)', () => {
    expect(verdicts([segment('file:///in/empty.csv', 0, 0)])).toEqual({ 'empty.csv': [] });
  });
});

describe('RunTally', () => {
  it('counts every file and keeps only the first rejected files by name', () => {
    const tally = new RunTally();
    const decisions = new FileDecisions(0.05);
    for (let i = 99; i >= 0; i--) {
      const name = `file:///in/f${String(i).padStart(3, '0')}.csv`;
      tally.decided(decisions.add(segment(name, 10, i % 2 ? 10 : 5))!);
    }
    tally.plannedOut({ file: 'file:///in/a-no-header.csv', reasons: ['empty file'] });
    expect([tally.filesLoaded, tally.filesRejected, tally.rowsRead, tally.rowsValid]).toEqual([50, 51, 1000, 500]);
    expect(tally.rejectedByReason).toEqual({ invalid_user_id: 250 });
    expect(tally.firstRejected.map((f) => f.file.split('/').pop())).toEqual([
      'a-no-header.csv',
      ...Array.from({ length: 19 }, (_, i) => `f${String(2 * i).padStart(3, '0')}.csv`),
    ]);
  });
});

describe('biggestDatesFirst', () => {
  it('orders dates by the events of all their parts, most first, ties by date', () => {
    const parts = [
      { listenDate: '2024-06-25', rows: 10 },
      { listenDate: '2024-06-27', rows: 400 },
      { listenDate: '2024-06-26', rows: 300 },
      { listenDate: '2024-06-25', rows: 5 },
      { listenDate: '2024-06-24', rows: 15 },
      { listenDate: '2024-06-26', rows: 200 },
    ];
    // 06-26: 500, 06-27: 400, then 06-24 and 06-25 with 15 each.
    expect(biggestDatesFirst(parts)).toEqual(['2024-06-26', '2024-06-27', '2024-06-24', '2024-06-25']);
  });
});

const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });

describe('segment validations artifact', () => {
  it("gives back a chunk's validations as the validator wrote them, and refuses bytes that are not", async () => {
    const dir = await tempDir();
    const run = runIn(dir);
    const clean = Array.from({ length: 3 }, (_, i) => segment(`${run.sources.streams}f${i}.csv`, 10, 10).validation);
    const written = [
      ...clean,
      // A name that is not ASCII, a big file's segment with bad rows and its quarantine, one that cannot be parsed, a header problem.
      { ...segment(`${run.sources.streams}d%C3%A9j%C3%A0/%E2%82%AC.csv`, 100, 97, undefined, 1, 3).validation, quarantineUrl: `${run.lake}q.csv` },
      segment(`${run.sources.streams}broken.csv`, 4, 0, 'Invalid Closing Quote: got "x" at line 5').validation,
      { ...segment(`${run.sources.streams}headless.csv`, 0, 0).validation, headerProblem: 'missing column(s) user_id', events: 0 },
      { ...segment(`${run.sources.streams}long.csv`, 2, 1).validation, boundBroken: 'record_too_long: line 3 is over MAX_RECORD_BYTES (1048576)' },
    ];
    try {
      const url = await writeSegmentValidations(store, run, 'chunk1', written);
      expect(await readSegmentValidations(store, url)).toEqual(written);
      expect(await readSegmentValidations(store, await writeSegmentValidations(store, run, 'none', []))).toEqual([]);
      // More rows than a u32 counts: a `.gz` file is one segment, under a raised MAX_DECOMPRESSED_BYTES.
      const huge = [segment(`${run.sources.streams}huge.csv.gz`, 5_000_000_000, 4_999_999_999).validation];
      expect(await readSegmentValidations(store, await writeSegmentValidations(store, run, 'huge', huge))).toEqual(huge);

      const path = new URL(url);
      await fs.truncate(path, (await fs.stat(path)).size - 3);
      await expect(readSegmentValidations(store, url)).rejects.toThrow(/chunk1\.validations\.bin: record 7, .*cut short/);
      await fs.writeFile(path, JSON.stringify(written[0]));
      await expect(readSegmentValidations(store, url)).rejects.toThrow(/chunk1\.validations\.bin: record 1, byte 4: cut short/);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('pack files artifact', () => {
  it("holds a pack's files as its transform decided them, which the commit appends to the run's file list as they are", async () => {
    const dir = await tempDir();
    const run = runIn(dir);
    const url = (name: string) => `${run.sources.streams}${name}.csv`;
    const withQuarantine = (s: SegmentOutcome): SegmentOutcome => ({
      ...s,
      validation: { ...s.validation, quarantineUrl: `${run.lake}q-${s.validation.fileId}.csv` },
    });
    // z1 one bad row in 100 (kept, its bad row quarantined), bad 10 of 10 bad (rejected), broken not CSV.
    const pack1 = [
      segment(url('z1'), 100, 99),
      segment(url('a'), 10, 10),
      segment(url('bad'), 10, 0),
      segment(url('broken'), 0, 0, 'Invalid Closing Quote'),
    ].map((s) => (s.validation.rowsRead > s.validation.rowsValid ? withQuarantine(s) : s));
    // A pack of thousands of files: appended to the list across reads of the store's pieces.
    const pack2 = Array.from({ length: 20_000 }, (_, i) => segment(url(`f${String(i).padStart(5, '0')}`), 10, 10));
    const big = [segment(url('big'), 5, 5, undefined, 0, 2), segment(url('big'), 5, 5, undefined, 1, 2)].map((s) => ({
      ...s,
      parts: [{ listenDate: '2024-06-25', url: `${run.lake}big-${s.validation.index}.parquet`, rows: 5 }],
    }));
    try {
      const first = await writePackFiles(store, run, 'chunk1', pack1, 0.05);
      const second = await writePackFiles(store, run, 'chunk2', pack2, 0.05);
      expect((await fs.stat(new URL(second.filesUrl))).size).toBeGreaterThan(1 << 20);
      expect(second.quarantinesUrl).toBeUndefined();
      const quarantined = [];
      for await (const files of readPackQuarantines(store, first.quarantinesUrl!)) quarantined.push(...files);
      expect(quarantined).toEqual([
        { fileId: 'z1', segments: 1, urls: [`${run.lake}q-z1.csv`] },
        { fileId: 'bad', segments: 1, urls: [`${run.lake}q-bad.csv`] },
      ]);
      await expect(writePackFiles(store, run, 'chunk3', [big[0]!], 0.05)).rejects.toThrow(/big\.csv is segment 0 of 2, not a whole file/);

      // The list and tally as the commit writes them, against every file decided from its outcomes.
      const list = new RunFilesWriter(store, run);
      await list.addPack(store, first);
      await list.addPack(store, second);
      for await (const decided of readDecidedFiles(store, [{ outcomesUrl: await writeSegmentOutcomes(store, run, 'chunk4', big) }], 0.05))
        await list.addDecided(decided);
      const { url: filesUrl, tally } = await list.end();
      const expected = new RunFilesWriter(store, { ...run, runId: '20261206-020000-fedcba' });
      const decisions = new FileDecisions(0.05);
      for (const s of [...pack1, ...pack2, ...big]) {
        const file = decisions.add(s);
        if (file) await expected.addDecided([file]);
      }
      const want = await expected.end();
      const read = async (listUrl: string) => {
        const files = [];
        for await (const batch of readRunFiles(store, listUrl)) files.push(...batch);
        return files;
      };
      const files = await read(filesUrl);
      expect(files).toEqual(await read(want.url));
      expect(files).toHaveLength(4 + 20_000 + 1);
      expect(files.filter((f) => f.status === 'rejected').map((f) => f.file)).toEqual([url('bad'), url('broken')]);
      expect(tally).toEqual(want.tally);
      expect(tally).toMatchObject({ filesLoaded: 20_003, filesRejected: 2, rowsRead: 200_130, rowsValid: 200_119 });
      expect(tally.firstRejected.map((f) => f.file)).toEqual([url('bad'), url('broken')]);
      expect(await loadedFileIds(store, filesUrl)).toEqual(new Set(files.filter((f) => f.status === 'loaded').map((f) => f.fileId)));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  it("keeps the first rejected files by name when packs' tallies are added", () => {
    const tallyOf = (names: string[]) => {
      const tally = new RunTally();
      for (const name of names) tally.plannedOut({ file: name, reasons: ['no header'] });
      return tally;
    };
    const sum = new RunTally();
    sum.add(tallyOf(Array.from({ length: 15 }, (_, i) => `b${String(i).padStart(2, '0')}`)));
    sum.add(tallyOf(Array.from({ length: 15 }, (_, i) => `a${String(i).padStart(2, '0')}`)));
    expect(sum.filesRejected).toBe(30);
    expect(sum.firstRejected.map((f) => f.file)).toEqual([
      ...Array.from({ length: 15 }, (_, i) => `a${String(i).padStart(2, '0')}`),
      'b00',
      'b01',
      'b02',
      'b03',
      'b04',
    ]);
  });
});

describe('run file list', () => {
  it('is written as the files are decided, and the load joins the duplicates of every file to it, once a file, however few files are held at once', async () => {
    const dir = await tempDir();
    const run = runIn(dir);
    const url = (name: string) => `${run.sources.streams}${name}.csv`;
    try {
      const planned = plannedOutFilesWriter(store, run);
      await planned.add({ file: url('no-header'), reasons: ['no header'] });
      const plannedOutUrl = (await planned.end()).url;
      const names = Array.from({ length: 12 }, (_, i) => `f${String(i).padStart(2, '0')}`);
      const chunk = async (chunkId: string, segments: SegmentOutcome[]) => ({ outcomesUrl: await writeSegmentOutcomes(store, run, chunkId, segments) });
      const transforms = [
        await chunk(
          'chunk1',
          names.slice(0, 6).map((n) => segment(url(n), 10, 10)),
        ),
        // f11 has too many bad rows: rejected, and its duplicates are not reported.
        await chunk(
          'chunk2',
          names.slice(6).map((n) => segment(url(n), 10, n === 'f11' ? 0 : 10)),
        ),
      ];
      // As the commit writes it.
      const list = new RunFilesWriter(store, run);
      await list.addPlannedOut(store, plannedOutUrl);
      for await (const decided of readDecidedFiles(store, transforms, 0.05)) await list.addDecided(decided);
      const { url: filesUrl, tally } = await list.end();
      expect({ loaded: tally.filesLoaded, rejected: tally.filesRejected, read: tally.rowsRead }).toEqual({ loaded: 11, rejected: 2, read: 120 });

      // f01 re-delivered over two dates, f03 in two passes of one date, and the rejected f11.
      const duplicatesOf = (listenDate: string, pass: number, count: number, byFile: Record<string, number>) =>
        writeFileDuplicates(store, run, { listenDate, pass, count }, new Map(Object.entries(byFile)));
      const duplicateFiles = [
        await duplicatesOf('2024-06-25', 0, 1, { f01: 4, f07: 1, f11: 3 }),
        await duplicatesOf('2024-06-26', 0, 2, { f01: 2, f03: 5 }),
        await duplicatesOf('2024-06-26', 1, 2, { f03: 1, f09: 10 }),
        await duplicatesOf('2024-06-27', 0, 1, {}),
      ].filter((a) => a !== undefined);
      expect(duplicateFiles.map((a) => a.files)).toEqual([3, 2, 2]);
      const expected = { f01: 6, f03: 6, f07: 1, f09: 10 };

      // As the load reads it.
      const listed = async (artifacts: typeof duplicateFiles, held: number) => {
        const files = [];
        for await (const batch of runFilesWithDuplicates(store, filesUrl, artifacts, held)) files.push(...batch);
        return files;
      };
      const whole = await listed(duplicateFiles, 100);
      const shared = await listed(duplicateFiles, 2);
      for (const files of [whole, shared]) {
        const byName = new Map(files.map((f) => [f.file.split('/').pop()!.replace('.csv', ''), f]));
        expect(files).toHaveLength(1 + names.length);
        expect([...byName.keys()].sort()).toEqual([...names, 'no-header']);
        expect(Object.fromEntries([...byName].filter(([, f]) => f.duplicate).map(([n, f]) => [n, f.duplicate]))).toEqual(expected);
        expect(byName.get('f11')).toMatchObject({ status: 'rejected', duplicate: 0 });
        expect(byName.get('no-header')).toMatchObject({ status: 'rejected', reason: 'no header' });
      }
      // Held in shares of two: the list read once a share, each file in its share only.
      expect(whole.map((f) => f.file)).toEqual([url('no-header'), ...names.map(url)]);
      expect(shared.map((f) => f.file)).not.toEqual(whole.map((f) => f.file));
      // No duplicates: the list as the commit wrote it.
      expect(await listed([], 100)).toEqual(whole.map((f) => ({ ...f, duplicate: 0 })));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
