/**
 * The run's catalogue snapshot (streamed by the catalogue jobs, read by each
 * transform for its own tracks and users) round-trips through a real store:
 * rows are written in batches and read back through reads that cut through
 * lines and through multi-byte characters; a track's rows merge.
 */
import { describe, expect, it } from 'vitest';
import { type Song } from '@musicflow/ingest';
import { lakeTrackOf, LakeTrackTable, readKeysCatalogue, SongsSnapshotWriter, UsersSnapshotWriter } from '@musicflow/lake';
import { createObjectStore } from '@musicflow/storage';
import { dirUrl, tempDir } from '../helpers/env.ts';

describe('catalogue snapshot', () => {
  const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });

  const write = async (folder: string, songs: Song[], users: number[]) => {
    const songsOut = new SongsSnapshotWriter(store, `${folder}songs.bin`);
    // Every song's first genre, then (after all of them) its second: a track's rows need not be together.
    for (const song of songs) await songsOut.add(song.trackId, song.genres[0]!, song);
    for (const song of songs) if (song.genres[1]) await songsOut.add(song.trackId, song.genres[1], { ...song, trackName: 'later row', popularity: 0 });
    await songsOut.close();
    const usersOut = new UsersSnapshotWriter(store, `${folder}users.bin`);
    for (const id of users) await usersOut.add(id);
    await usersOut.close();
    return { songsUrl: `${folder}songs.bin`, usersUrl: `${folder}users.bin` };
  };

  it('gives the songs and known users of the keys asked for, across many batches and reads', async () => {
    const folder = dirUrl(await tempDir('musicflow-snapshot-'));
    const songs: Song[] = Array.from({ length: 20_000 }, (_, i) => ({
      trackId: `track${i}`,
      // About 4 MB of mostly two-byte characters: the store's 1 MiB reads end inside some.
      trackName: `${'é'.repeat(i % 211)}Ðancé «${i}» 🎵`,
      artists: [`Artïst ${i % 13}`, `Ørkester ${i % 5}`],
      popularity: i % 101,
      durationMs: 1000 + i,
      genres: i % 3 === 0 ? ['pop', 'k-pop'] : ['jazz'],
    }));
    const users = Array.from({ length: 100_000 }, (_, i) => i * 7 + 1);
    const snapshots = await write(folder, songs, users);

    // Every other track and one unknown; every third user of the snapshot and users it does not have.
    const asked = [...songs.filter((_, i) => i % 2 === 0).map((s) => s.trackId), 'unknown-track'];
    const askedUsers = [...users.filter((_, i) => i % 3 === 0), 2, 9, 2_147_483_647];
    const catalogue = await readKeysCatalogue(store, snapshots, Buffer.from(asked.join('\n')), askedUsers);
    for (const [i, song] of songs.entries()) expect(catalogue.songOf(song.trackId)).toEqual(i % 2 === 0 ? song : undefined);
    expect(catalogue.songOf('unknown-track')).toBeUndefined();
    expect([...catalogue.users.values()].sort((a, b) => a - b)).toEqual(users.filter((_, i) => i % 3 === 0));
  });

  it("adds the keys' tracks to a lake track table from the snapshot's bytes, as the songs' strings would", async () => {
    const folder = dirUrl(await tempDir('musicflow-snapshot-'));
    const songs: Song[] = Array.from({ length: 3000 }, (_, i) => ({
      trackId: `trk-${i}-ü`,
      trackName: `Ñame ${i % 97} 🎵`,
      artists: i % 5 === 0 ? [] : i % 2 ? [`A ${i % 11}`, `B ${i % 7}`] : [`A ${i % 11}`],
      popularity: i % 101,
      durationMs: 1000 + i,
      // A second row under the same genre adds nothing; under another it is listed after the first.
      genres: i % 3 === 0 ? ['pop', 'k-pop'] : ['jazz'],
    }));
    const snapshots = await write(folder, songs, []);
    const asked = [...songs.filter((_, i) => i % 3 !== 1).map((s) => s.trackId), 'not-in-catalogue'];
    const catalogue = await readKeysCatalogue(store, snapshots, Buffer.from(asked.join('\n')), []);
    const fromBytes = new LakeTrackTable();
    const fromStrings = new LakeTrackTable();
    for (const [t, id] of asked.entries()) {
      expect(catalogue.addTrackTo(fromBytes, t)).toBe(t);
      fromStrings.add(id, lakeTrackOf(catalogue.songOf(id)));
    }
    expect(fromBytes.catalogued(asked.length - 1)).toBe(false);
    expect(fromBytes.stringIds.subarray(0, asked.length * 4)).toEqual(fromStrings.stringIds.subarray(0, asked.length * 4));
    expect(fromBytes.popularity.subarray(0, asked.length)).toEqual(fromStrings.popularity.subarray(0, asked.length));
    expect(fromBytes.durationMs.subarray(0, asked.length)).toEqual(fromStrings.durationMs.subarray(0, asked.length));
    for (const [c, pool] of fromBytes.strings.entries()) {
      expect(Array.from({ length: pool.size }, (_, v) => pool.text(v))).toEqual(Array.from({ length: pool.size }, (_, v) => fromStrings.strings[c]!.text(v)));
    }
    expect(fromBytes.strings[3]!.text(fromBytes.stringIds[0 * 4 + 3]!)).toBe('pop;k-pop');
    expect(() => catalogue.addTrackTo(fromBytes, asked.length)).toThrow(RangeError);
  });

  it('refuses a snapshot that ends inside a row', async () => {
    const folder = dirUrl(await tempDir('musicflow-snapshot-'));
    const snapshots = await write(folder, [{ trackId: 't', trackName: 'n', artists: ['a'], popularity: 1, durationMs: 2, genres: ['g'] }], []);
    const bytes = await store.readBuffer(snapshots.songsUrl);
    await store.write(snapshots.songsUrl, bytes.subarray(0, bytes.length - 1));
    await expect(readKeysCatalogue(store, snapshots, Buffer.from('t'), [])).rejects.toThrow(/ends inside a row/);
  });

  it('reads an empty catalogue as empty', async () => {
    const folder = dirUrl(await tempDir('musicflow-snapshot-'));
    const catalogue = await readKeysCatalogue(store, await write(folder, [], []), Buffer.from('a\nb'), [1, 2]);
    expect(catalogue.songOf('a')).toBeUndefined();
    expect(catalogue.users.size).toBe(0);
  });
});
