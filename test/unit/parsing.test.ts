/**
 * SPEC 2.1 and 3: timestamps, stream row rules, headers and the CSV reader.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CsvFileError, missingColumns, parseHeader, parseListenTime, STREAM_COLUMNS, validateStreamRow } from '@musicflow/ingest';
import { CSV_READERS, type CsvReader } from '../helpers/csv-readers.ts';

const utc = (iso: string) => Date.parse(iso);

async function records(reader: CsvReader, text: string | Buffer, firstLine = 1, pieceSize?: number) {
  const bytes = Buffer.isBuffer(text) ? text : Buffer.from(text);
  const pieces: Buffer[] = [];
  // Feed the parser in small pieces too, so records and line ends straddle buffer boundaries.
  if (pieceSize) for (let i = 0; i < bytes.length; i += pieceSize) pieces.push(bytes.subarray(i, i + pieceSize));
  else pieces.push(bytes);
  const out: { fields: string[]; line: number }[] = [];
  for await (const r of reader.records(Readable.from(pieces), firstLine)) out.push(r);
  return out;
}

async function parseError(reader: CsvReader, text: string, firstLine = 1): Promise<CsvFileError> {
  try {
    await records(reader, text, firstLine);
  } catch (err) {
    expect(err).toBeInstanceOf(CsvFileError);
    return err as CsvFileError;
  }
  throw new Error('expected a CsvFileError');
}

describe('parseListenTime', () => {
  it.each([
    ['2024-06-25 10:15:30', '2024-06-25T10:15:30.000Z'], // no offset: UTC
    ['2024-06-25T10:15:30', '2024-06-25T10:15:30.000Z'],
    ['2024-06-25T10:15:30Z', '2024-06-25T10:15:30.000Z'],
    ['2024-06-25T10:15:30.5Z', '2024-06-25T10:15:30.500Z'],
    ['2024-06-25T10:15:30.123Z', '2024-06-25T10:15:30.123Z'],
    ['2024-06-25T10:15:30.123456789Z', '2024-06-25T10:15:30.123Z'], // beyond ms: truncated
    ['2024-06-25T10:15:30.999999', '2024-06-25T10:15:30.999Z'],
    ['2024-06-25T10:15:30+05:30', '2024-06-25T04:45:30.000Z'],
    ['2024-06-25T10:15:30-0800', '2024-06-25T18:15:30.000Z'],
    ['2024-06-25 10:15:30+02', '2024-06-25T08:15:30.000Z'],
    ['2024-06-25T10:15:30+00:00', '2024-06-25T10:15:30.000Z'],
    ['2024-06-25T10:15:30.250-03:00', '2024-06-25T13:15:30.250Z'],
    ['2024-06-26T02:00:00+05:30', '2024-06-25T20:30:00.000Z'], // crosses to the previous UTC day
    ['2024-06-25T20:00:00-05:00', '2024-06-26T01:00:00.000Z'], // crosses to the next UTC day
    ['2024-02-29 00:00:00', '2024-02-29T00:00:00.000Z'], // leap day
    ['2024-12-31 23:59:59', '2024-12-31T23:59:59.000Z'],
  ])('%s is %s', (text, iso) => {
    expect(parseListenTime(text)).toBe(utc(iso));
  });

  it('keeps years 0-99 as written (Date.UTC alone would read 0099 as 1999)', () => {
    expect(parseListenTime('0099-01-01 00:00:00')).toBe(new Date('0099-01-01T00:00:00Z').getTime());
    expect(new Date(parseListenTime('0099-01-01 00:00:00')!).getUTCFullYear()).toBe(99);
  });

  it.each([
    '',
    '2024-06-25',
    '2024-06-25 10:15',
    '2024/06/25 10:15:30',
    '25-06-2024 10:15:30',
    '2024-6-25 10:15:30',
    '2024-06-25  10:15:30',
    ' 2024-06-25 10:15:30',
    '2024-06-25 10:15:30 ',
    '2024-02-30 00:00:00', // no such day
    '2023-02-29 00:00:00', // not a leap year
    '2024-04-31 00:00:00',
    '2024-13-01 00:00:00',
    '2024-00-10 00:00:00',
    '2024-06-00 00:00:00',
    '2024-06-25 25:00:00',
    '2024-06-25 24:00:00',
    '2024-06-25 10:60:00',
    '2024-06-25 10:15:60',
    '2024-06-25T10:15:30.Z', // empty fraction
    '2024-06-25T10:15:30.1234567890Z', // 10 fraction digits
    '2024-06-25T10:15:30+5:30',
    '2024-06-25T10:15:30+05:3',
    '2024-06-25T10:15:30+25:00', // impossible offsets
    '2024-06-25T10:15:30+05:75',
    '2024-06-25T10:15:30 +05:30',
    '2024-06-25T10:15:30EST',
    '1719310530', // epoch seconds
    'yesterday',
  ])('rejects %j', (text) => {
    expect(parseListenTime(text)).toBeUndefined();
  });
});

describe('parseListenTime fast path (YYYY-MM-DD HH:MM:SS by character codes and calendar arithmetic)', () => {
  it('agrees with the ISO reading on every hour of days across leap years, month ends and centuries, in any order', () => {
    const days = ['1900-02-28', '1999-12-31', '2000-02-29', '2023-02-28', '2024-02-29', '2024-06-25', '2100-03-01', '0099-07-04'];
    let checked = 0;
    for (let i = 0; i < 2000; i++) {
      const day = days[(i * 7) % days.length]!;
      const time = `${String(i % 24).padStart(2, '0')}:${String((i * 13) % 60).padStart(2, '0')}:${String((i * 31) % 60).padStart(2, '0')}`;
      const iso = Date.parse(`${day}T${time}Z`);
      expect(parseListenTime(`${day} ${time}`)).toBe(iso);
      expect(parseListenTime(`${day}T${time}`)).toBe(iso);
      checked++;
    }
    expect(checked).toBe(2000);
  });

  it('rejects impossible times of the same shape', () => {
    expect(parseListenTime('2024-06-25 10:00:00')).toBe(Date.UTC(2024, 5, 25, 10));
    for (const text of [
      '2024-06-25 24:00:00',
      '2024-06-25 10:60:00',
      '2024-06-25 10:00:60',
      '2024-06-31 10:00:00',
      '2023-02-29 10:00:00',
      '1900-02-29 10:00:00',
      '2100-02-29 10:00:00',
      '2024-04-31 10:00:00',
      '2024-13-01 10:00:00',
      '2024-00-10 10:00:00',
      '2024-06-2x 10:00:00',
      '2024/06/25 10:00:00',
      '2024-06-25_10:00:00',
    ]) {
      expect(parseListenTime(text), text).toBeUndefined();
    }
  });
});

describe('validateStreamRow', () => {
  it('accepts a good row and gives the UTC instant', () => {
    expect(validateStreamRow('42', 'trk-1', '2024-06-25 10:00:00+01:00')).toEqual({
      ok: true,
      userId: 42,
      trackId: 'trk-1',
      listenTime: utc('2024-06-25T09:00:00Z'),
    });
    expect(validateStreamRow('2147483647', 'x'.repeat(64), '2024-06-25T10:00:00Z')).toMatchObject({ ok: true, userId: 2147483647 });
  });

  it.each(['0', '-1', '1.5', 'abc', '', '1e3', '0x10', ' 7', '7 ', '+7', '2147483648', '99999999999'])('rejects user_id %j', (userId) => {
    expect(validateStreamRow(userId, 'trk', '2024-06-25 10:00:00')).toEqual({
      ok: false,
      reason: 'invalid_user_id',
      field: 'user_id',
      value: userId,
    });
  });

  it.each(['', 'a b', ' abc', 'a\u00A0b', 'a\u3000b', 'x'.repeat(65), 'д'.repeat(65), '😀'.repeat(65)])('rejects track_id %j', (trackId) => {
    expect(validateStreamRow('1', trackId, '2024-06-25 10:00:00')).toEqual({
      ok: false,
      reason: 'invalid_track_id',
      field: 'track_id',
      value: trackId,
    });
  });

  it.each(['', 'nope', '2024-02-30 10:00:00', '2024-06-25 25:00:00', '2024-06-25 10:00'])('rejects listen_time %j', (time) => {
    expect(validateStreamRow('1', 'trk', time)).toEqual({ ok: false, reason: 'invalid_listen_time', field: 'listen_time', value: time });
  });

  it('reports the first broken rule, in column order of the SPEC', () => {
    expect(validateStreamRow('0', '', 'bad')).toMatchObject({ reason: 'invalid_user_id' });
    expect(validateStreamRow('1', '', 'bad')).toMatchObject({ reason: 'invalid_track_id' });
  });
});

describe('headers', () => {
  it('reads column names in any order, strips the BOM and surrounding spaces, keeps extra columns', () => {
    expect(parseHeader(Buffer.from('\uFEFFlisten_time, track_id ,extra,user_id'))).toEqual(['listen_time', 'track_id', 'extra', 'user_id']);
    expect(parseHeader(Buffer.from('"user_id","track,id",listen_time'))).toEqual(['user_id', 'track,id', 'listen_time']);
    expect(missingColumns(['listen_time', 'track_id', 'extra', 'user_id'], STREAM_COLUMNS)).toEqual([]);
  });

  it('names every missing column', () => {
    expect(missingColumns(['user_id', 'extra'], STREAM_COLUMNS)).toEqual(['track_id', 'listen_time']);
    expect(missingColumns([], STREAM_COLUMNS)).toEqual(['user_id', 'track_id', 'listen_time']);
    // Names are case-sensitive: `User_ID` is not `user_id`.
    expect(missingColumns(['User_ID', 'track_id', 'listen_time'], STREAM_COLUMNS)).toEqual(['user_id']);
  });
});

describe.each(CSV_READERS)('csvRecords, $name', (reader: CsvReader) => {
  it('reads LF and CRLF files, a BOM, trailing empty lines and a last line without a line end', async () => {
    const expected = [
      { fields: ['user_id', 'track_id', 'listen_time'], line: 1 },
      { fields: ['1', 'a', '2024-06-25 10:00:00'], line: 2 },
      { fields: ['2', 'b', '2024-06-25 11:00:00'], line: 3 },
    ];
    const body = ['user_id,track_id,listen_time', '1,a,2024-06-25 10:00:00', '2,b,2024-06-25 11:00:00'];
    expect(await records(reader, body.join('\n'))).toEqual(expected);
    expect(await records(reader, `${body.join('\n')}\n`)).toEqual(expected);
    expect(await records(reader, `${body.join('\r\n')}\r\n\r\n\r\n`)).toEqual(expected);
    expect(await records(reader, `\uFEFF${body.join('\r\n')}\n\n`)).toEqual(expected);
    expect(await records(reader, `\uFEFF${body.join('\r\n')}\r\n`, 1, 1)).toEqual(expected);
  });

  it('takes CRLF and LF as line ends within one file', async () => {
    expect(await records(reader, 'a,b\r\n1,2\n3,4\r\n\n5,6')).toEqual([
      { fields: ['a', 'b'], line: 1 },
      { fields: ['1', '2'], line: 2 },
      { fields: ['3', '4'], line: 3 },
      { fields: ['5', '6'], line: 5 },
    ]);
  });

  it('reads RFC 4180 quoted fields: commas, doubled quotes, line ends inside quotes', async () => {
    const text = 'a,b,c\n"x,y","say ""hi""",plain\n"multi\nline",2,3\n4,"",6\n';
    expect(await records(reader, text)).toEqual([
      { fields: ['a', 'b', 'c'], line: 1 },
      { fields: ['x,y', 'say "hi"', 'plain'], line: 2 },
      { fields: ['multi\nline', '2', '3'], line: 4 }, // the record ends on line 4
      { fields: ['4', '', '6'], line: 5 },
    ]);
    // Same file with CRLF: a CRLF inside quotes is one line, not two.
    expect(await records(reader, text.replace(/\n/g, '\r\n'))).toEqual([
      { fields: ['a', 'b', 'c'], line: 1 },
      { fields: ['x,y', 'say "hi"', 'plain'], line: 2 },
      { fields: ['multi\r\nline', '2', '3'], line: 4 },
      { fields: ['4', '', '6'], line: 5 },
    ]);
    // Byte by byte: line numbers do not depend on how the bytes arrive.
    expect((await records(reader, text.replace(/\n/g, '\r\n'), 1, 1)).map((r) => r.line)).toEqual([1, 2, 4, 5]);
  });

  it('counts skipped empty lines in line numbers and starts from firstLine', async () => {
    expect(await records(reader, 'a\n\n\nb\n', 1)).toEqual([
      { fields: ['a'], line: 1 },
      { fields: ['b'], line: 4 },
    ]);
    expect(await records(reader, '1,2\r\n\r\n3,4\r\n', 101)).toEqual([
      { fields: ['1', '2'], line: 101 },
      { fields: ['3', '4'], line: 103 },
    ]);
  });

  it('keeps rows with fewer or more fields than the header (validation decides)', async () => {
    expect((await records(reader, 'a,b\n1\n1,2,3\n')).map((r) => r.fields)).toEqual([['a', 'b'], ['1'], ['1', '2', '3']]);
  });

  it('yields nothing for an empty file', async () => {
    expect(await records(reader, '')).toEqual([]);
    expect(await records(reader, '\n\n')).toEqual([]);
  });

  it('rejects an unterminated quote with the line where the quote opened', async () => {
    const err = await parseError(reader, 'a,b\n1,2\n3,"4\n5,6\n7,8\n');
    expect(err.line).toBe(3);
    expect(err.message).toMatch(/line 3\b/);
    expect((await parseError(reader, 'a,b\r\n1,2\r\n\r\n"3,4\r\n5,6\r\n')).line).toBe(4);
    // A closed multi-line field with doubled quotes before it does not confuse the count.
    expect((await parseError(reader, 'a,b\n1,"x""\n""y"""\n"3,4\n5,6\n7,8\n')).line).toBe(4);
    // In a chunk that starts at line 500 of its file.
    expect((await parseError(reader, '1,2\n3,"4\n', 500)).line).toBe(501);
  });

  it('rejects other malformed quoting with a line number', async () => {
    const err = await parseError(reader, 'a,b\n1,2\n"ab"c,2\n3,4\n');
    expect(err.line).toBe(3);
    expect(err.message).toMatch(/^line 3: /);
  });
});
