/**
 * Deterministic data set shaped like the sample data: the sample's catalogue
 * (songs.csv, 28,352 tracks in 113 genres; users.csv, 50,000 users), listeners
 * and tracks drawn with a Zipf-like skew, listen times spread over a few days,
 * and a pinch of the dirt real batches carry (0.05% invalid rows, 0.1% exact
 * duplicates, some across files, 0.5% plays of tracks not in the catalogue).
 * A file never holds more invalid rows than MAX_FILE_DIRT of its rows: the
 * invalid rows beyond it are left out (they would not count anyway), so the
 * same events cut into many small files are never rejected whole by SPEC's
 * 5 % rule and count the same as in a few big files.
 * `catalogueSongs` / `catalogueUsers` append that many generated rows to the
 * catalogue (one in seven songs also listed under a second genre, 15 % of them
 * crediting two artists). Without `tailShare` the events are drawn from the
 * sample's catalogue alone, so they are the same bytes with or without the
 * generated rows and so are the KPI rows: the runs differ only in the
 * catalogue's size. With `tailShare` S, a share S of the plays is uniform over
 * the whole catalogue (sample and generated songs) by a user uniform over all
 * users, the rest from a popular head of 10,000 tracks of that catalogue by the
 * sample's skewed listeners: a long-tail day.
 */
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';

/** 3: one generated song in seven on a second genre, 15 % crediting two artists; `tailShare`. 4: MAX_FILE_DIRT. */
export const GENERATOR_VERSION = 4;
/**
 * Invalid rows a file holds at most, as a share of its rows: half of REJECT_THRESHOLD's default (5 %), so a
 * file of 10 events holds none, one of 50 at most one; files of thousands keep every invalid row drawn (0.05 %).
 */
export const MAX_FILE_DIRT = 0.025;
/** Tracks the head of a long-tail day's plays is drawn from (`tailShare`). */
export const HEAD_TRACKS = 10_000;
const SAMPLE_USERS = 50_000;
export const FIRST_DAY = Date.UTC(2024, 5, 25);
export const DAYS = 5;

export interface GeneratedData {
  dir: string;
  streamFiles: string[];
  songsCsv: string;
  usersCsv: string;
  events: number;
}

/** sfc32: small, fast, seedable. */
function prng(seed: number): () => number {
  let a = 0x9e3779b9,
    b = 0x243f6a88,
    c = 0xb7e15162,
    d = seed >>> 0;
  const next = () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    const t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    const r = (t + d) | 0;
    c = (c + r) | 0;
    return (r >>> 0) / 4294967296;
  };
  for (let i = 0; i < 20; i++) next();
  return next;
}

/** Sampler over `n` items with P(rank k) ∝ 1/(k+1)^s, ranks shuffled so popularity is not id order. */
function zipf(n: number, s: number, rand: () => number): () => number {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / Math.pow(k + 1, s);
  for (let k = 0; k < n; k++) cdf[k]! /= sum;
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  return () => {
    const u = rand();
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < u) lo = mid + 1;
      else hi = mid;
    }
    return order[lo]!;
  };
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : `${n}`);

async function distinctTrackIds(songsCsv: string): Promise<string[]> {
  // track_id is the second column of the sample catalogue and never quoted.
  const text = await fs.readFile(songsCsv, 'utf8');
  const lines = text.split('\n');
  const header = lines[0]!.split(',');
  const col = header.indexOf('track_id');
  const ids = new Set<string>();
  for (const line of lines.slice(1)) {
    if (!line) continue;
    const id = line.split(',')[col];
    if (id) ids.add(id);
  }
  return [...ids];
}

/** Files are cached by (events, files, days, seed, version): the same arguments give the same bytes. */
export async function generate(opts: {
  events: number;
  files: number;
  root: string;
  sampleDir: string;
  seed?: number;
  days?: number;
  catalogueSongs?: number;
  catalogueUsers?: number;
  /** Share of plays uniform over the whole catalogue, 0-1; the rest from a head of HEAD_TRACKS tracks. */
  tailShare?: number;
}): Promise<GeneratedData> {
  const seed = opts.seed ?? 42;
  const days = opts.days ?? DAYS;
  const extraSongs = opts.catalogueSongs ?? 0;
  const extraUsers = opts.catalogueUsers ?? 0;
  const tailShare = opts.tailShare;
  if (tailShare !== undefined && !(tailShare >= 0 && tailShare <= 1)) throw new Error(`tailShare must be between 0 and 1, got ${tailShare}`);
  const dateText = Array.from({ length: days }, (_, d) => new Date(FIRST_DAY + d * 86_400_000).toISOString().slice(0, 10));
  const dir = path.join(
    opts.root,
    `data-v${GENERATOR_VERSION}-n${opts.events}-f${opts.files}-s${seed}${days === DAYS ? '' : `-d${days}`}` +
      `${extraSongs ? `-cs${extraSongs}` : ''}${extraUsers ? `-cu${extraUsers}` : ''}${tailShare === undefined ? '' : `-t${tailShare}`}`,
  );
  const streamsDir = path.join(dir, 'streams');
  const digits = Math.max(2, String(opts.files).length);
  const streamFiles = Array.from({ length: opts.files }, (_, i) => path.join(streamsDir, `streams${String(i + 1).padStart(digits, '0')}.csv`));
  const songsCsv = path.join(dir, 'songs.csv');
  const usersCsv = path.join(dir, 'users.csv');
  const done = path.join(dir, '.complete');
  if (
    await fs.stat(done).then(
      () => true,
      () => false,
    )
  )
    return { dir, streamFiles, songsCsv, usersCsv, events: opts.events };

  await fs.rm(dir, { recursive: true, force: true });
  await fs.mkdir(streamsDir, { recursive: true });
  await fs.copyFile(path.join(opts.sampleDir, 'songs.csv'), songsCsv);
  await fs.copyFile(path.join(opts.sampleDir, 'users.csv'), usersCsv);
  await appendCatalogue(songsCsv, usersCsv, extraSongs, extraUsers, seed);

  const rand = prng(seed);
  const tracks = await distinctTrackIds(path.join(opts.sampleDir, 'songs.csv'));
  const pickTrack = zipf(tracks.length, 0.9, rand);
  const pickUser = zipf(SAMPLE_USERS, 0.6, rand);
  // Without tailShare no extra draws, so the events are the same bytes as before it existed.
  const longTail = tailShare === undefined ? undefined : longTailCatalogue(tracks, extraSongs, extraUsers, seed);
  const unknownTracks = Array.from({ length: 1000 }, (_, i) => `zzUnknownTrack${String(i).padStart(8, '0')}`);
  const recent: string[] = [];
  /** Every invalid line drawn (0.05 % of them, and their duplicates are the same strings). */
  const invalid = new Set<string>();

  const event = (): string => {
    const r = rand();
    // An exact duplicate of an earlier event, possibly from an earlier file.
    if (r < 0.001 && recent.length > 0) return recent[Math.floor(rand() * recent.length)]!;
    let user = pickUser() + 1;
    let track: string;
    if (r < 0.006) track = unknownTracks[Math.floor(rand() * unknownTracks.length)]!;
    else if (!longTail) track = tracks[pickTrack()]!;
    else if (rand() < tailShare!) {
      track = longTail.anyTrack();
      user = longTail.anyUser();
    } else track = longTail.headTrack();
    const sec = Math.floor(rand() * days * 86_400);
    const day = Math.floor(sec / 86_400);
    const s = sec - day * 86_400;
    const time = `${dateText[day]} ${pad2(Math.floor(s / 3600))}:${pad2(Math.floor((s % 3600) / 60))}:${pad2(s % 60)}`;
    let line: string;
    if (r > 0.9995) invalid.add((line = rand() < 0.5 ? `0,${track},${time}\n` : `${user},${track},2024-06-31 25:00:00\n`));
    else line = `${user},${track},${time}\n`;
    if (recent.length < 4096) recent.push(line);
    else if (rand() < 0.01) recent[Math.floor(rand() * recent.length)] = line;
    return line;
  };

  let written = 0;
  for (const [f, file] of streamFiles.entries()) {
    const rows = Math.floor(opts.events / opts.files) + (f < opts.events % opts.files ? 1 : 0);
    // Every event is drawn whatever the file cut, so the valid events are the same in 5 files or 100,000.
    let dirtLeft = Math.floor(rows * MAX_FILE_DIRT);
    const fileEvent = () => {
      const line = event();
      if (!invalid.has(line)) return line;
      return dirtLeft-- > 0 ? line : '';
    };
    written += await writeLines(file, 'w', 'user_id,track_id,listen_time\n', rows, fileEvent);
  }
  await fs.writeFile(done, `${written}\n`);
  return { dir, streamFiles, songsCsv, usersCsv, events: written };
}

const generatedTrackId = (i: number) => `zzGenTrack${String(i).padStart(12, '0')}`;

/**
 * Draws over the whole catalogue: the sample's tracks then the generated
 * songs (ids from their index, so a catalogue of millions costs no strings),
 * and a head of HEAD_TRACKS of them (fewer if the catalogue is smaller) with
 * the sample's skew.
 */
function longTailCatalogue(sampleTracks: string[], songs: number, users: number, seed: number) {
  const rand = prng(seed + 2);
  const size = sampleTracks.length + songs;
  const trackAt = (i: number) => (i < sampleTracks.length ? sampleTracks[i]! : generatedTrackId(i - sampleTracks.length));
  const head = new Set<number>();
  while (head.size < Math.min(HEAD_TRACKS, size)) head.add(Math.floor(rand() * size));
  const headIndex = [...head];
  const pickHead = zipf(headIndex.length, 0.9, rand);
  return {
    anyTrack: () => trackAt(Math.floor(rand() * size)),
    anyUser: () => 1 + Math.floor(rand() * (SAMPLE_USERS + users)),
    headTrack: () => trackAt(headIndex[pickHead()]!),
  };
}

/**
 * Generated catalogue rows after the sample's: songs in the sample's column
 * layout (new track ids; 15 % crediting two artists `A;B`; one in seven on a
 * second row under another of the sample's genres, the rest as the first), users with
 * ids after the sample's 50,000; with the files' own line ends.
 */
async function appendCatalogue(songsCsv: string, usersCsv: string, songs: number, users: number, seed: number): Promise<void> {
  const rand = prng(seed + 1);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const text = await fs.readFile(songsCsv, 'utf8');
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const usersEol = (await fs.readFile(usersCsv, 'utf8')).includes('\r\n') ? '\r\n' : '\n';
  const sample = text.split(/\r?\n/);
  const header = sample[0]!.split(',');
  const genreCol = header.indexOf('track_genre');
  const genres = [
    ...new Set(
      sample
        .slice(1)
        .filter(Boolean)
        .map((l) => l.split(',').at(genreCol - header.length)!),
    ),
  ];
  const ARTISTS = 50_000;
  const song = (i: number) => {
    const artist = Math.floor(rand() * ARTISTS);
    const fields: Record<string, string> = {
      id: String(1_000_000 + i),
      track_id: generatedTrackId(i),
      artists: rand() < 0.15 ? `Gen Artist ${artist};Gen Artist ${(artist + 1 + Math.floor(rand() * (ARTISTS - 1))) % ARTISTS}` : `Gen Artist ${artist}`,
      album_name: `Gen Album ${Math.floor(rand() * 100_000)}`,
      track_name: `Gen Track ${i}`,
      popularity: String(Math.floor(rand() * 101)),
      duration_ms: String(60_000 + Math.floor(rand() * 300_000)),
      explicit: 'False',
    };
    const row = (genre: string) => `${header.map((h) => (h === 'track_genre' ? genre : (fields[h] ?? '0.5'))).join(',')}${eol}`;
    const genre = pick(genres);
    if (rand() >= 1 / 7) return row(genre);
    let second = pick(genres);
    while (second === genre) second = pick(genres);
    return row(genre) + row(second);
  };
  await writeLines(songsCsv, 'a', '', songs, song);
  await writeLines(
    usersCsv,
    'a',
    '',
    users,
    (i) => `${SAMPLE_USERS + 1 + i},Gen User ${i},${18 + Math.floor(rand() * 60)},Generated,2024-01-${pad2(1 + (i % 28))}${usersEol}`,
  );
}

/**
 * Streams `rows` lines (`line(i)`, after `first`) to a file in 64 KiB writes, waiting on back-pressure; a line
 * given as '' is left out. Returns the lines written.
 */
async function writeLines(file: string, flags: 'a' | 'w', first: string, rows: number, line: (i: number) => string): Promise<number> {
  const out = createWriteStream(file, { flags });
  let buf = first;
  let written = 0;
  for (let i = 0; i < rows; i++) {
    const text = line(i);
    if (text) written++;
    buf += text;
    if (buf.length > 1 << 16) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
  return written;
}
