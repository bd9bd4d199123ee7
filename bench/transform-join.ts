/**
 * A long-tail transform's catalogue join alone: a songs snapshot of N songs
 * (one in seven on a second genre row, 15 % crediting two artists, as
 * bench/generate.ts), a chunk's keys of K tracks (a head of 10k and the rest
 * uniform over the catalogue), read the way a transform reads them and joined
 * into its lake track table. Prints each round's CPU time and memory.
 *
 *   node --max-old-space-size=256 --import tsx bench/transform-join.ts [--songs 1000000] [--tracks 260000] [--rounds 3]
 */
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readKeysCatalogue, SongsSnapshotWriter, songsSnapshotGroup, UsersSnapshotWriter } from '@musicflow/lake';
import { createObjectStore } from '@musicflow/storage';

const { values } = parseArgs({
  options: { songs: { type: 'string', default: '1000000' }, tracks: { type: 'string', default: '260000' }, rounds: { type: 'string', default: '3' } },
});
const songs = Number(values.songs);
const tracks = Number(values.tracks);
let seed = 42;
// mulberry32
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const trackId = (i: number) => `zzGenTrack${String(i).padStart(12, '0')}`;
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'musicflow-join-'));
const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
const usersUrl = pathToFileURL(path.join(dir, 'users.bin')).href;
const writer = new SongsSnapshotWriter(store, `${pathToFileURL(dir).href}/songs/`);
for (let i = 0; i < songs; i++) {
  const artist = Math.floor(rand() * 50_000);
  const artists = rand() < 0.15 ? [`Gen Artist ${artist}`, `Gen Artist ${(artist + 7) % 50_000}`] : [`Gen Artist ${artist}`];
  const song = { trackId: trackId(i), trackName: `Gen Track ${i}`, artists, popularity: i % 101, durationMs: 60_000 + (i % 300_000) };
  await writer.add(song.trackId, `genre${i % 113}`, song);
  if (rand() < 1 / 7) await writer.add(song.trackId, `genre${(i + 1) % 113}`, song);
}
await writer.close();
await new UsersSnapshotWriter(store, usersUrl).close();
const snapshots = { songs: [songsSnapshotGroup(writer.snapshot, 0)], usersUrls: [usersUrl] };
const asked = new Set<number>();
for (let i = 0; asked.size < Math.min(10_000, tracks); i++) asked.add(Math.floor(rand() * songs));
while (asked.size < tracks) asked.add(Math.floor(rand() * songs));
const keys = Buffer.from([...asked].map(trackId).join('\n'));

for (let round = 0; round < Number(values.rounds); round++) {
  const t0 = cpu();
  const catalogue = await readKeysCatalogue(store, snapshots, keys, []);
  const t1 = cpu();
  const { rss, heapUsed, arrayBuffers } = process.memoryUsage();
  const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);
  console.log(
    `round ${round}: join ${(t1 - t0).toFixed(2)} s CPU, ${catalogue.tracks.size} tracks; RSS ${mb(rss)} MB, heap ${mb(heapUsed)} MB, array buffers ${mb(arrayBuffers)} MB`,
  );
}
await store.close();
await fs.rm(dir, { recursive: true });
