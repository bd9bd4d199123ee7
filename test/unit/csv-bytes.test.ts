/**
 * The stream files' byte-level reader against csv-parse, its reference: the
 * same records, line numbers and errors on random inputs however the bytes
 * arrive; and the byte-level row checks against validateStreamRow.
 */
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  csvByteBatches,
  CsvFileError,
  type CsvByteBatch,
  csvRecords,
  readUserId,
  recordFields,
  StreamRowChecker,
  validateStreamRow,
  WholeCsvReader,
  type CsvRecord,
} from '@musicflow/ingest';
import { CleanEventsWriter, readCleanEvents } from '@musicflow/lake';
import { byteReaderRecords } from '../helpers/csv-readers.ts';

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

function pieces(bytes: Buffer, size: () => number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = size();
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

type Outcome = { records: CsvRecord[]; error?: { line: number; message: string } };

async function outcome(records: AsyncGenerator<CsvRecord>): Promise<Outcome> {
  const out: CsvRecord[] = [];
  try {
    for await (const r of records) out.push(r);
    return { records: out };
  } catch (err) {
    if (!(err instanceof CsvFileError)) throw err;
    return { records: out, error: { line: err.line, message: err.message } };
  }
}

/**
 * Random bytes made of CSV's pieces: quotes (well placed, or also stray ones
 * unless `wellFormed`), commas, LF, CRLF, lone CRs, empty lines, BOMs,
 * multi-byte and invalid UTF-8, maybe a quote left open at the end.
 */
function randomCsv(rnd: () => number, wellFormed: boolean): Buffer {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const parts: Buffer[] = [];
  if (rnd() < 0.3) parts.push(Buffer.from('\uFEFF'));
  const tokens = ['a', '12', ',', ',', '\n', '\r\n', '\r', ' ', '"', '""', 'é', '\uFEFF', 'x"y', '\t'];
  const invalid = [Buffer.from([0xff]), Buffer.from([0xc3]), Buffer.from([0xe2, 0x82]), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xf0, 0x9f, 0x98])];
  const quoted = () => `"${Array.from({ length: Math.floor(rnd() * 4) }, () => pick(['x', ',', '""', '\n', '\r\n', 'ü'])).join('')}"`;
  for (let i = Math.floor(rnd() * 40); i > 0; i--) {
    const k = rnd();
    if (k < 0.05) parts.push(pick(invalid));
    else if (k < 0.35)
      parts.push(Buffer.from(wellFormed ? `${pick([',', '\n'])}${quoted()}${pick([',', '\n', '\r\n'])}` : quoted() + pick([',', '\n', '\r\n', ''])));
    // Mostly well-formed, so a file reaches far before csv-parse finds something to reject.
    else if (k < 0.4 && !wellFormed) parts.push(Buffer.from(pick(tokens)));
    else parts.push(Buffer.from(pick(['a', '12', ',', ',', '\n', '\r\n', ' ', 'é', '\r'])));
  }
  // Sometimes a quote left open at the end.
  if (rnd() < 0.3) parts.push(Buffer.from(pick(['"', '"x\n', '"\r\n', ',"a""'])));
  return Buffer.concat(parts);
}

describe('csvByteBatches against csv-parse', () => {
  it('gives the same records, line numbers and errors on random files, however the bytes arrive (WholeCsvReader too, for bytes held whole)', async () => {
    const rnd = random(4180);
    let errors = 0;
    let quoteErrors = 0;
    const whole = new WholeCsvReader();
    let taken = 0;
    for (let i = 0; i < 1000; i++) {
      const bytes = randomCsv(rnd, i % 2 === 0);
      const firstLine = rnd() < 0.5 ? 1 : 1 + Math.floor(rnd() * 1e6);
      const expected = await outcome(csvRecords(Readable.from([bytes]), firstLine));
      if (expected.error) errors++;
      if (expected.error?.message.includes('Quote Not Closed')) quoteErrors++;
      for (const split of [() => bytes.length || 1, () => 1, () => 1 + Math.floor(rnd() * 7)]) {
        const actual = await outcome(byteReaderRecords(Readable.from(pieces(bytes, split)), firstLine));
        const label = JSON.stringify(bytes.toString('latin1'));
        if (expected.error) {
          // A file csv-parse rejects is rejected whole: the records before the error do not matter, the line does.
          // csv-parse counts a CRLF inside quotes as two lines; the byte reader hands it the rest of the file from
          // the record it does not take, so its count can only differ where the file has CRs.
          expect(actual.error, label).toBeDefined();
          if (!bytes.includes(0x0d)) expect(actual.error!.line, label).toBe(expected.error.line);
          else expect(actual.error!.line, label).toBeLessThanOrEqual(expected.error.line);
          if (expected.error.message.includes('Quote Not Closed')) expect(actual.error!.message, label).toBe(expected.error.message);
        } else {
          expect(actual, label).toEqual(expected);
        }
      }
      // Bytes held whole (a small file read ahead by the validator) come as an array: read as the same bytes streamed.
      const held = await outcome(byteReaderRecords([bytes], firstLine));
      expect(held, JSON.stringify(bytes.toString('latin1'))).toEqual(await outcome(byteReaderRecords(Readable.from([bytes]), firstLine)));
      // Or taken at once by one reader for all of them: the same records, or none when csvByteBatches must read them.
      const batch = whole.take(bytes, firstLine);
      if (batch) {
        taken++;
        const records = Array.from({ length: batch.records }, (_, r) => ({ fields: recordFields(batch, r), line: batch.lines[r]! }));
        expect({ records }, JSON.stringify(bytes.toString('latin1'))).toEqual(expected);
      }
    }
    // Every file taken at once was compared, and most well-formed ones are.
    expect(taken).toBeGreaterThan(400);
    // The inputs reach both outcomes often enough to mean something.
    expect(errors).toBeGreaterThan(100);
    expect(quoteErrors).toBeGreaterThan(50);
    expect(1000 - errors).toBeGreaterThan(100);
  }, 60_000);

  it('decodes invalid UTF-8 to U+FFFD exactly like TextDecoder', async () => {
    const rnd = random(8);
    const decoder = new TextDecoder();
    for (let i = 0; i < 2000; i++) {
      const field = Buffer.from(
        Array.from({ length: 1 + Math.floor(rnd() * 8) }, () => (rnd() < 0.5 ? 0x80 + Math.floor(rnd() * 0x80) : 0x41 + Math.floor(rnd() * 20))),
      );
      const bytes = Buffer.concat([Buffer.from('1,'), field, Buffer.from(',x\n')]);
      for await (const batch of csvByteBatches(Readable.from([bytes]))) {
        expect(recordFields(batch, 0)[1]).toBe(decoder.decode(field));
      }
    }
  });
});

describe('csvByteBatches readers one after another', () => {
  const collect = async (reader: AsyncIterable<CsvByteBatch>) => {
    const rows: string[][] = [];
    for await (const batch of reader) for (let r = 0; r < batch.records; r++) rows.push(recordFields(batch, r));
    return rows;
  };

  it('give each reader its own batch while several are open, and the same records when one starts after a bigger one ended', async () => {
    const wide = Array.from({ length: 3000 }, (_, i) => `${i},t${i},x,"y""${i}"`).join('\n');
    const small = (tag: string) => `a,b,c\n1,${tag},3\n4,${tag}${tag},6\n`;
    // A bigger reader first: its arrays grew, and the next reader may start from them.
    expect((await collect(csvByteBatches(Readable.from([Buffer.from(wide)])))).length).toBe(3000);
    expect(await collect(csvByteBatches(Readable.from([Buffer.from(small('p'))])))).toEqual([
      ['a', 'b', 'c'],
      ['1', 'p', '3'],
      ['4', 'pp', '6'],
    ]);
    // Two readers open at once (each reads a piece at a time): neither sees the other's records.
    const first = csvByteBatches(Readable.from(pieces(Buffer.from(wide), () => 4096)));
    const second = csvByteBatches(Readable.from([Buffer.from(small('q'))]));
    const a = await first.next();
    const b = await second.next();
    expect(recordFields(a.value as CsvByteBatch, 0)).toEqual(['0', 't0', 'x', 'y"0']);
    expect(recordFields(b.value as CsvByteBatch, 2)).toEqual(['4', 'qq', '6']);
    await second.return(undefined);
    const c = await csvByteBatches(Readable.from([Buffer.from(small('r'))])).next();
    expect(recordFields(a.value as CsvByteBatch, 1)).toEqual(['1', 't1', 'x', 'y"1']);
    expect(recordFields(c.value as CsvByteBatch, 1)).toEqual(['1', 'r', '3']);
    await first.return(undefined);
  });
});

describe('StreamRowChecker', () => {
  async function check(text: string) {
    const out = new PassThrough();
    const clean = new CleanEventsWriter(out);
    const ended = (async () => {
      const events: [number, string, number][] = [];
      const trackIds: string[] = [];
      for await (const b of readCleanEvents(out, 'test')) {
        if (b.newTrackIds.length) trackIds.push(...b.newTrackIds.toString('utf8').split('\n'));
        for (let i = 0; i < b.rows; i++) events.push([b.userIds[i]!, trackIds[b.trackIndexes[i]!]!, b.listenTimes[i]!]);
      }
      return events;
    })();
    const checker = new StreamRowChecker(2, 0, 1, clean);
    const results: unknown[] = [];
    for await (const batch of csvByteBatches(Readable.from([Buffer.from(text)]))) {
      for (let r = 0; r < batch.records; r++) {
        const bad = checker.check(batch, r);
        if (bad) results.push(bad);
        else {
          results.push({ ok: true, userId: checker.userId, trackId: undefined, listenTime: checker.listenTime });
          await clean.addIndexed(checker.userId, checker.trackIndex, checker.listenTime);
        }
      }
    }
    await clean.end();
    return { results, events: await ended };
  }

  it('decides every row as validateStreamRow does, track ids through the hand-off', async () => {
    const rnd = random(2101);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const users = ['1', '42', '007', '2147483647', '2147483648', '0', '-1', '1.5', '', ' 7', '+7', '99999999999', '1e3', '"5"', '"5"""'];
    const tracks = ['trk-1', 'trk-2', 'tr\u00e4ck', 'a b', '', 'x'.repeat(64), 'x'.repeat(65), '"q,uo""ted"', '"trk-1"', '\uFFFD', 'a\u00A0b', 'ab\tc'];
    const times = ['2024-06-25 10:00:00', '2024-06-25T10:00:00+01:00', '2024-02-30 10:00:00', 'nope', '', '2024-06-25 10:00:00 ', 'é024-06-25 10:00:00'];
    const rows: string[] = [];
    const expected: unknown[] = [];
    const expectedEvents: [number, string, number][] = [];
    const unquote = (s: string) => (s.startsWith('"') ? s.slice(1, -1).replaceAll('""', '"') : s);
    for (let i = 0; i < 3000; i++) {
      const [u, t, l] = [pick(users), pick(tracks), pick(times)];
      const short = rnd() < 0.05;
      // Columns in another order than the SPEC's, as a header may put them; sometimes a field short.
      rows.push(short ? `${t},${l}` : `${t},${l},${u}`);
      const row = validateStreamRow(short ? '' : unquote(u), unquote(t), l);
      expected.push(row.ok ? { ok: true, userId: row.userId, trackId: undefined, listenTime: row.listenTime } : row);
      if (row.ok) expectedEvents.push([row.userId, row.trackId, row.listenTime]);
    }
    const { results, events } = await check(`${rows.join('\n')}\n`);
    expect(results).toEqual(expected);
    expect(events).toEqual(expectedEvents);
  });

  it('reads user_id digits as the rule does', () => {
    for (const text of ['1', '42', '007', '0000000001', '2147483647', '2147483648', '4294967296', '9999999999', '00000000001', '0', '', 'a', '1a', '١']) {
      const bytes = Buffer.from(`x${text}x`);
      const row = validateStreamRow(text, 't', '2024-06-25 10:00:00');
      expect(readUserId(bytes, 1, bytes.length - 1), text).toBe(row.ok ? row.userId : 0);
    }
  });
});
