/**
 * csvRecords: each record reports the physical line where it ends, however the
 * bytes are cut into chunks, with skipped empty lines, line ends inside quotes,
 * a BOM and a `firstLine` offset; errors and early stops reach the stream.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { CsvFileError, csvByteBatches, csvRecordBatches, type CsvRecord } from '@musicflow/ingest';
import { CSV_READERS, type CsvReader } from '../helpers/csv-readers.ts';

const BOM = '\uFEFF';

/** `bytes` cut into pieces of `size` bytes, or of the sizes `size()` picks. */
function pieces(bytes: Buffer, size: number | (() => number)): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < bytes.length;) {
    const n = typeof size === 'number' ? size : size();
    out.push(bytes.subarray(i, i + n));
    i += n;
  }
  return out;
}

const lines = (records: CsvRecord[]) => records.map((r) => r.line);

/** Deterministic pseudo-random numbers (mulberry32). */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * A random CSV file and the records it holds, line numbers counted while
 * writing it: quoted fields with commas, doubled quotes, LF and CRLF inside,
 * empty and whitespace-only lines, mixed line ends, maybe a BOM, maybe no line
 * end after the last record.
 */
function randomFile(rnd: () => number, firstLine: number): { text: string; records: CsvRecord[] } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const lineEnd = () => pick(['\n', '\r\n']);
  let text = rnd() < 0.3 ? BOM : '';
  let line = firstLine;
  const records: CsvRecord[] = [];

  const field = (): [raw: string, value: string] => {
    if (rnd() < 0.6) {
      const value = Array.from({ length: Math.floor(rnd() * 4) }, () => pick(['a', 'b', '1', ' '])).join('');
      return [value, value];
    }
    let raw = '"';
    let value = '';
    for (let i = Math.floor(rnd() * 5); i > 0; i--) {
      const part = pick(['x', ',', '"', ' ', '\n', '\r\n']);
      raw += part === '"' ? '""' : part;
      value += part;
      if (part.endsWith('\n')) line++;
    }
    return [`${raw}"`, value];
  };

  const count = 1 + Math.floor(rnd() * 30);
  for (let r = 0; r < count; r++) {
    const kind = rnd();
    if (kind < 0.15) {
      text += lineEnd();
      line++;
      continue;
    }
    let raw: string;
    let fields: string[];
    if (kind < 0.25) {
      raw = pick([' ', '\t', '  ']);
      fields = [raw];
    } else {
      const parts = Array.from({ length: 1 + Math.floor(rnd() * 4) }, field);
      raw = parts.map((p) => p[0]).join(',');
      fields = parts.map((p) => p[1]);
      if (raw === '') continue; // an empty line, not a record
    }
    records.push({ fields, line });
    text += raw;
    if (r < count - 1 || rnd() < 0.7) {
      text += lineEnd();
      line++;
    }
  }
  return { text, records };
}

/** Every test below runs on both readers: csv-parse and the byte-level reader of the stream files. */
describe.each(CSV_READERS)('$name', (reader: CsvReader) => {
  async function collect(bytes: Readable, firstLine?: number): Promise<CsvRecord[]> {
    const out: CsvRecord[] = [];
    for await (const r of reader.records(bytes, firstLine)) out.push(r);
    return out;
  }

  const read = (chunks: Buffer[], firstLine?: number) => collect(Readable.from(chunks), firstLine);

  /** The records of `text` read whole, in 1-byte pieces and in 2- and 3-byte pieces (line ends and BOM split). */
  async function readAllWays(text: string, firstLine?: number): Promise<CsvRecord[]> {
    const bytes = Buffer.from(text);
    const whole = await read([bytes], firstLine);
    for (const size of [1, 2, 3]) expect(await read(pieces(bytes, size), firstLine), `pieces of ${size}`).toEqual(whole);
    return whole;
  }

  describe('csvRecords line numbers', () => {
    it('numbers a record with line ends inside quotes by the line where it ends', async () => {
      const text = 'h1,h2\n"a\nb\nc",1\n2,"x\n"\n"",3\n';
      expect(await readAllWays(text)).toEqual([
        { fields: ['h1', 'h2'], line: 1 },
        { fields: ['a\nb\nc', '1'], line: 4 },
        { fields: ['2', 'x\n'], line: 6 },
        { fields: ['', '3'], line: 7 },
      ]);
      // A CRLF inside quotes is one line; so is one inside a field that also holds doubled quotes.
      expect(await readAllWays('"a\r\nb",1\r\n"say ""x""\r\n""y""",2\r\n3,4\r\n')).toEqual([
        { fields: ['a\r\nb', '1'], line: 2 },
        { fields: ['say "x"\r\n"y"', '2'], line: 4 },
        { fields: ['3', '4'], line: 5 },
      ]);
    });

    it('counts skipped empty lines, and reads a whitespace-only or lone-CR-before-CRLF line as a record', async () => {
      expect(lines(await readAllWays('a\n\n\r\n\nb\r\n\r\n\n'))).toEqual([1, 5]);
      expect(await readAllWays('a\n \n\t\nb\n')).toEqual([
        { fields: ['a'], line: 1 },
        { fields: [' '], line: 2 },
        { fields: ['\t'], line: 3 },
        { fields: ['b'], line: 4 },
      ]);
      // `\r\r\n` is a CR, then a line end: not an empty line.
      expect(await readAllWays('a\n\r\r\nb\n')).toEqual([
        { fields: ['a'], line: 1 },
        { fields: ['\r'], line: 2 },
        { fields: ['b'], line: 3 },
      ]);
      expect(lines(await readAllWays('\n\n\na,b\n\n'))).toEqual([4]);
    });

    it('does not count a BOM as content of the first line', async () => {
      expect(await readAllWays(`${BOM}a,b\n1,2\n`)).toEqual([
        { fields: ['a', 'b'], line: 1 },
        { fields: ['1', '2'], line: 2 },
      ]);
      // The BOM alone on the first line leaves it empty.
      expect(lines(await readAllWays(`${BOM}\na,b\r\n${BOM}\n`))).toEqual([2, 3]);
      expect(lines(await readAllWays(`${BOM}\r\n\r\n1`))).toEqual([3]);
      expect(await readAllWays(`${BOM}\n\n`)).toEqual([]);
      // A BOM only counts at the start of the stream, and only whole: U+2EFF ends with the BOM's last two bytes.
      expect(await readAllWays(`\n${BOM}\n`)).toEqual([{ fields: [BOM], line: 2 }]);
      expect(await readAllWays('\u2EFF\na')).toEqual([
        { fields: ['\u2EFF'], line: 1 },
        { fields: ['a'], line: 2 },
      ]);
    });

    it('numbers a last record without a line end', async () => {
      expect(lines(await readAllWays('a\nb'))).toEqual([1, 2]);
      expect(lines(await readAllWays('a\n\n\nb'))).toEqual([1, 4]);
      expect(lines(await readAllWays('a\n"b\nc"'))).toEqual([1, 3]);
      expect(lines(await readAllWays('a\r\n"b\r\n"'))).toEqual([1, 3]);
      expect(await readAllWays('a')).toEqual([{ fields: ['a'], line: 1 }]);
    });

    it('starts from firstLine', async () => {
      expect(await readAllWays('1,"x\r\ny"\r\n\r\n2,z', 1_000_001)).toEqual([
        { fields: ['1', 'x\r\ny'], line: 1_000_002 },
        { fields: ['2', 'z'], line: 1_000_004 },
      ]);
    });

    it('numbers a long file the same whatever the chunk sizes', async () => {
      const rows = ['user_id,track_id,listen_time'];
      const expected: number[] = [1];
      let line = 1;
      for (let i = 1; i <= 20_000; i++) {
        const track = i % 100 === 0 ? `"trk\n${i}"` : i % 37 === 0 ? `"trk\r\n${i}"` : `trk${i}`;
        rows.push(`${i},${track},2024-06-25 14:03:07${i % 1000 === 0 ? '\n' : ''}`);
        line += 1 + (i % 100 === 0 || i % 37 === 0 ? 1 : 0);
        expected.push(line);
        if (i % 1000 === 0) line++;
      }
      const bytes = Buffer.from(`${rows.join('\n')}\n`);
      const rnd = random(7);
      for (const chunks of [[bytes], pieces(bytes, 65_536), pieces(bytes, 100), pieces(bytes, () => 1 + Math.floor(rnd() * 3000))]) {
        const records = await read(chunks);
        expect(lines(records)).toEqual(expected);
        expect(records[100]!.fields).toEqual(['100', 'trk\n100', '2024-06-25 14:03:07']);
      }
    });

    it('keeps line numbers in order while records arrive much faster than they are taken', async () => {
      const bytes = new Readable({ read() {} });
      const records = reader.records(bytes);
      bytes.push('a\n\nb\n');
      expect((await records.next()).value).toEqual({ fields: ['a'], line: 1 });
      bytes.push('x\n'.repeat(5000));
      bytes.push(null);
      const rest: number[] = [];
      for await (const r of records) rest.push(r.line);
      expect(rest).toEqual([3, ...Array.from({ length: 5000 }, (_, i) => 4 + i)]);
    });

    it('matches the line numbers counted while writing random files, however the bytes arrive', async () => {
      const rnd = random(20240625);
      for (let i = 0; i < 300; i++) {
        const firstLine = rnd() < 0.5 ? 1 : 1 + Math.floor(rnd() * 1e6);
        const { text, records } = randomFile(rnd, firstLine);
        const bytes = Buffer.from(text);
        for (const chunks of [[bytes], pieces(bytes, 1), pieces(bytes, () => 1 + Math.floor(rnd() * 8))]) {
          expect(await read(chunks, firstLine), JSON.stringify(text)).toEqual(records);
        }
      }
    });
  });

  describe('csvRecords streams and errors', () => {
    it('reports an unclosed quote at the line where it opened, in 1-byte pieces too', async () => {
      const text = 'a,b\r\n"x\r\ny",1\r\n\r\n2,"open\r\n3,4\r\n';
      for (const size of [1, text.length]) {
        const err = await read(pieces(Buffer.from(text), size), 10).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(CsvFileError);
        expect((err as CsvFileError).line).toBe(14);
      }
    });

    it('passes a stream error through', async () => {
      const failing = new Readable({ read() {} });
      failing.push('a,b\n1,2\n');
      setImmediate(() => failing.destroy(new Error('disk on fire')));
      await expect(collect(failing)).rejects.toThrow('disk on fire');
    });

    it('destroys the byte stream when the consumer stops early', async () => {
      const bytes = Readable.from(pieces(Buffer.from('a\nb\nc\n'.repeat(10_000)), 1000));
      for await (const r of reader.records(bytes)) {
        expect(r).toEqual({ fields: ['a'], line: 1 });
        break;
      }
      expect(bytes.destroyed).toBe(true);
    });
  });
});

describe('csvRecordBatches', () => {
  it('keeps reading when the parser fills up while the consumer awaits between batches', async () => {
    // Many reads of many records, each batch taken after an event-loop turn, as the validator does when it
    // waits for its output to drain: a lost 'readable' would hang here.
    const rows = 40_000;
    const bytes = Buffer.from(Array.from({ length: rows }, (_, i) => `${i},t${i % 97},2024-06-25 00:00:00\n`).join(''));
    const lines: number[] = [];
    let batches = 0;
    for await (const batch of csvRecordBatches(Readable.from(pieces(bytes, 4096)))) {
      batches++;
      lines.push(...batch.lines);
      expect(batch.records.length).toBe(batch.lines.length);
      await nextTurn();
    }
    expect(batches).toBeGreaterThan(1);
    expect(lines).toEqual(Array.from({ length: rows }, (_, i) => i + 1));
  }, 20_000);
});

describe('csvByteBatches', () => {
  it('keeps reading while the consumer awaits between batches, the batch unchanged meanwhile', async () => {
    const rows = 40_000;
    const bytes = Buffer.from(Array.from({ length: rows }, (_, i) => `${i},t${i % 97},2024-06-25 00:00:00\n`).join(''));
    const lines: number[] = [];
    const ids: string[] = [];
    let batches = 0;
    for await (const batch of csvByteBatches(Readable.from(pieces(bytes, 4096)))) {
      batches++;
      await nextTurn();
      for (let r = 0; r < batch.records; r++) {
        lines.push(batch.lines[r]!);
        ids.push(batch.bytes.toString('latin1', batch.starts[batch.firstField[r]!], batch.ends[batch.firstField[r]!]));
      }
    }
    expect(batches).toBeGreaterThan(1);
    expect(lines).toEqual(Array.from({ length: rows }, (_, i) => i + 1));
    expect(ids).toEqual(Array.from({ length: rows }, (_, i) => String(i)));
  }, 20_000);
});
