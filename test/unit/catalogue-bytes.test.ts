/**
 * Catalogue CSVs read at the byte level (readCatalogueSource with a run's
 * keys) against csv-parse, the reference: every row the rules would see, with
 * its values, record and line, and the count of rows read, are the same as
 * when csv-parse reads the whole file and the run's rows are picked from its
 * strings (`skips`). Also the byte-keyed set the reader looks track ids up in.
 */
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  csvRecords,
  readCatalogueSource,
  RunTrackKeys,
  TrackFingerprintSet,
  RunUserKeys,
  SONG_COLUMNS,
  USER_COLUMNS,
  UserIdSet,
  validateSongRow,
  validateUserRow,
  type SourceRow,
} from '@musicflow/ingest';
import { createObjectStore, type ObjectStore } from '@musicflow/storage';
import { fileUrl, tempDir } from '../helpers/env.ts';

type Keys = RunTrackKeys | RunUserKeys;
/** A source row with its record decoded (`SourceRow.record` is read while the row is the current one). */
type ReadRow = Omit<SourceRow, 'record'> & { record: string[] };

/** What the rules see when csv-parse reads every record and the run's rows are picked from their text. */
async function reference(file: string, required: readonly string[], keys: Keys): Promise<{ rows: ReadRow[]; rowsRead: number }> {
  const rows: ReadRow[] = [];
  let header: string[] | undefined;
  let rowsRead = 0;
  for await (const { fields, line } of csvRecords(createReadStream(file))) {
    if (!header) {
      header = fields.map((f) => f.trim());
      continue;
    }
    rowsRead++;
    const values: Record<string, string | undefined> = {};
    for (const c of required) values[c] = fields[header.indexOf(c)];
    if (!keys.skips(values[keys.key])) rows.push({ values, record: fields, line });
  }
  return { rows, rowsRead };
}

/** What the rules see from readCatalogueSource with the run's keys (the extractor's loop). */
async function byteLevel(store: ObjectStore, file: string, table: string, required: readonly string[], keys: Keys) {
  const read = readCatalogueSource(store, fileUrl(file), table, required, keys);
  const rows: ReadRow[] = [];
  for await (const batch of read)
    for (const row of batch) if (!keys.skips(row.values[keys.key])) rows.push({ values: row.values, record: row.record(), line: row.line });
  return { rows, rowsRead: read.rowsRead };
}

const SONGS_HEADER = '\uFEFFid,track_genre,popularity,track_name,track_id,artists,album_name,duration_ms,energy';
const song = (id: string, genre = 'pop', name = 'Name', popularity = '42') => `0,${genre},${popularity},${name},${id},A;B,Alb,210000,0.5`;

/** Song rows of every kind of key, wanted or not (the run wants t1, t2, tré, `t"q` and a 64-character id). */
const SONG_ROWS = [
  song('t1'),
  song('t1', 'rock', '"Renamed, ""again"""'),
  song('t1'), // a repeated (track, genre): the rules ignore it
  song('u1'),
  song('u1', 'pop', 'x', '150'), // bad, but not the run's: skipped as before
  song('"t2"', 'jazz', '"Two\r\nLines"'),
  song('"u2"'),
  song('"t""q"'), // a doubled quote: decided on its text
  song('"u""q"'),
  song('tré'),
  song('uré'),
  song('bad id'),
  song('"t1 "'),
  song(''),
  song('T'.repeat(64)),
  song('T'.repeat(65)),
  song('t2', 'metal', 'x', '150'), // a bad row of a wanted track: quarantined
  '0,pop,1', // too few fields: no key
  '',
  song('t2', 'jazz'),
];
const WANTED_TRACKS = new Set(['t1', 't2', 'tré', 't"q', 'T'.repeat(64)]);

const USERS_HEADER = 'user_name,created_at,user_id,user_age,user_country';
const user = (id: string, age = '30') => `n,2023-01-01,${id},${age},FR`;
const USER_ROWS = [
  user('1'),
  user('2'),
  user('12'),
  user(' 12 '),
  user('"12"'),
  user('0012'),
  user('0'),
  user('2147483647'),
  user('2147483648'),
  user('9999999999'),
  user('99999999999'),
  user('x1'),
  user(''),
  user('+5'),
  user('1e3'),
  user('7', '999'), // a bad row of a wanted user: quarantined
  user('8', '999'), // not the run's: skipped
  user('1'),
  'n,2023-01-01',
];
const WANTED_USERS = [1, 7, 12, 2147483647];

describe('catalogue CSVs read at the byte level', () => {
  let dir: string;
  let store: ObjectStore;
  const write = async (name: string, text: string) => {
    const file = path.join(dir, name);
    await fs.writeFile(file, text);
    return file;
  };
  const trackKeys = () => {
    const wanted = new TrackFingerprintSet();
    for (const id of WANTED_TRACKS) wanted.add(Buffer.from(id), 0, Buffer.byteLength(id));
    return new RunTrackKeys(wanted, async function* () {
      yield { ids: Buffer.from([...WANTED_TRACKS].join('\n')), group: 0 };
    });
  };
  const userKeys = () => {
    const ids = new UserIdSet();
    for (const id of WANTED_USERS) ids.add(id);
    return new RunUserKeys(ids);
  };

  beforeAll(async () => {
    dir = await tempDir('musicflow-catalogue-bytes-');
    store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
  });
  afterAll(async () => {
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  for (const eol of ['\n', '\r\n']) {
    it(`gives the rules the rows csv-parse would, songs (${JSON.stringify(eol)} line ends, BOM, quotes, odd keys)`, async () => {
      const file = await write('songs.csv', [SONGS_HEADER, ...SONG_ROWS].join(eol) + eol);
      const expected = await reference(file, SONG_COLUMNS, trackKeys());
      expect(await byteLevel(store, file, 'songs', SONG_COLUMNS, trackKeys())).toEqual(expected);
      expect(expected.rowsRead).toBe(SONG_ROWS.length - 1);
      // The run's rows, and every row whose key is not plain: those reach the rules, and the bad ones are quarantined.
      expect(expected.rows.map((r) => r.values.track_id)).toEqual([
        't1',
        't1',
        't1',
        't2',
        't"q',
        'tré',
        'uré',
        'bad id',
        't1 ',
        '',
        'T'.repeat(64),
        'T'.repeat(65),
        't2',
        undefined,
        't2',
      ]);
      // Lines: the header is line 1 and the quoted name of the sixth row holds a line end.
      expect(expected.rows.filter((r) => !('song' in validateSongRow(r.values))).map((r) => r.line)).toEqual([14, 15, 16, 18, 19, 20]);
    });

    it(`gives the rules the rows csv-parse would, users (${JSON.stringify(eol)} line ends, padded, zero-led and out-of-range ids)`, async () => {
      const file = await write('users.csv', [USERS_HEADER, ...USER_ROWS].join(eol) + eol);
      const expected = await reference(file, USER_COLUMNS, userKeys());
      expect(await byteLevel(store, file, 'users', USER_COLUMNS, userKeys())).toEqual(expected);
      expect(expected.rowsRead).toBe(USER_ROWS.length);
      expect(expected.rows.map((r) => r.values.user_id)).toEqual([
        '1',
        '12',
        ' 12 ',
        '12',
        '0012',
        '0',
        '2147483647',
        '2147483648',
        '9999999999',
        '99999999999',
        'x1',
        '',
        '+5',
        '1e3',
        '7',
        '1',
        undefined,
      ]);
      expect(expected.rows.filter((r) => !('userId' in validateUserRow(r.values))).map((r) => r.values.user_id)).toEqual([
        '0',
        '2147483648',
        '9999999999',
        '99999999999',
        'x1',
        '',
        '+5',
        '1e3',
        '7',
        undefined,
      ]);
    });
  }

  it('takes rows split across reads: in a key, between CR and LF, inside a quoted field', async () => {
    // The file store reads 1 MiB at a time: filler rows (not the run's) put each case's split on a read's end.
    const READ = 1 << 20;
    const cases: [row: string, splitAt: number][] = [
      [song('t1', 'split-key'), song('t1', 'split-key').indexOf(',t1,') + 2],
      [song('t2', 'split-crlf'), song('t2', 'split-crlf').length + 1],
      [song('t2', 'split-quote', '"a ""b"" c"'), song('t2', 'split-quote', '"a ""b"" c"').indexOf('""b') + 1],
      [song('u9', 'split-unwanted'), song('u9', 'split-unwanted').indexOf(',u9,') + 2],
    ];
    let text = `${SONGS_HEADER}\r\n`;
    let bytes = Buffer.byteLength(text); // the rows are ASCII
    let filler = 0;
    for (const [c, [row, splitAt]] of cases.entries()) {
      for (let left = (c + 1) * READ - bytes - splitAt; left > 0; left = (c + 1) * READ - bytes - splitAt) {
        const id = `f${filler++}`;
        const bare = song(id, 'pop', '').length + 2;
        if (left < bare) throw new Error(`no filler row fits in ${left} bytes`);
        const fill = `${song(id, 'pop', 'x'.repeat(left - bare >= 300 ? 200 : left - bare))}\r\n`;
        text += fill;
        bytes += fill.length;
      }
      text += `${row}\r\n`;
      bytes += row.length + 2;
    }
    const written = Buffer.from(text);
    expect(cases.map((_, c) => written.toString('latin1', (c + 1) * READ - 1, (c + 1) * READ + 1))).toEqual(
      ['t|1', '\r|\n', '"|"', 'u|9'].map((s) => s.replace('|', '')),
    );
    const file = await write('split.csv', text);
    const expected = await reference(file, SONG_COLUMNS, trackKeys());
    expect(expected.rows.map((r) => r.values.track_genre)).toEqual(['split-key', 'split-crlf', 'split-quote']);
    expect(expected.rows[2]!.values.track_name).toBe('a "b" c');
    expect(await byteLevel(store, file, 'songs', SONG_COLUMNS, trackKeys())).toEqual(expected);
  });

  it('leaves a record it cannot take (a stray quote) to csv-parse: its error, at its line', async () => {
    const file = await write('stray.csv', [SONGS_HEADER, song('t1'), `0,pop,42,a "b",u1,A,Alb,1,0.5`, song('t2')].join('\n'));
    await expect(byteLevel(store, file, 'songs', SONG_COLUMNS, trackKeys())).rejects.toThrow(/^line 3: Invalid Opening Quote/);
    await expect(reference(file, SONG_COLUMNS, trackKeys())).rejects.toThrow(/^line 3: Invalid Opening Quote/);
  });
});

describe('UserIdSet', () => {
  it('holds the ids added, across growth, and never 0 or a negative id', () => {
    const ids = new UserIdSet();
    const added = Array.from({ length: 5000 }, (_, i) => 1 + i * 7919);
    for (const id of added) expect(ids.add(id)).toBe(true);
    expect(ids.add(added[0]!)).toBe(false);
    expect(ids.size).toBe(added.length);
    for (const id of added) expect(ids.has(id)).toBe(true);
    expect(ids.has(2)).toBe(false);
    expect(ids.has(0)).toBe(false);
    expect(ids.has(-1)).toBe(false);
    expect(() => ids.add(0)).toThrow(/1 to 2\^31-1, not 0/);
    expect([...ids.values()].sort((a, b) => a - b)).toEqual(added);
  });
});
