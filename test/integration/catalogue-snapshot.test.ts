/**
 * The run's catalogue snapshot (streamed by the catalogue jobs, read by each
 * transform for its own tracks and users) round-trips through a real store:
 * rows are written in objects of whole rows, to each group that asks for
 * them, and read back; a track's rows merge.
 */
import { describe, expect, it } from 'vitest';
import { type Song } from '@musicflow/ingest';
import { lakeTrackOf, readKeysCatalogue, SongsSnapshotWriter, songsSnapshotGroup, UsersSnapshotWriter } from '@musicflow/lake';
import { createObjectStore } from '@musicflow/storage';
import { dirUrl, tempDir } from '../helpers/env.ts';

describe('catalogue snapshot', () => {
  const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });

  const write = async (folder: string, songs: Song[], users: number[]) => {
    const songsOut = new SongsSnapshotWriter(store, `${folder}songs/`);
    // Every song's first genre, then (after all of them) its second: a track's rows need not be together.
    for (const song of songs) await songsOut.add(song.trackId, song.genres[0]!, song);
    for (const song of songs) if (song.genres[1]) await songsOut.add(song.trackId, song.genres[1], { ...song, trackName: 'later row', popularity: 0 });
    await songsOut.close();
    const usersOut = new UsersSnapshotWriter(store, `${folder}users.bin`);
    for (const id of users) await usersOut.add(id);
    await usersOut.close();
    return { songs: [songsSnapshotGroup(songsOut.snapshot, 0)], usersUrls: [`${folder}users.bin`] };
  };

  it('gives the songs and known users of the keys asked for, across many batches and reads', async () => {
    const folder = dirUrl(await tempDir('musicflow-snapshot-'));
    const songs: Song[] = Array.from({ length: 20_000 }, (_, i) => ({
      trackId: `track${i}`,
      // About 4 MB of mostly two-byte characters: rows in several objects.
      trackName: `${'é'.repeat(i % 211)}Ðancé «${i}» 🎵`,
      artists: [`Artïst ${i % 13}`, `Ørkester ${i % 5}`],
      popularity: i % 101,
      durationMs: 1000 + i,
      genres: i % 3 === 0 ? ['pop', 'k-pop'] : ['jazz'],
    }));
    const users = Array.from({ length: 100_000 }, (_, i) => i * 7 + 1);
    const snapshots = await write(folder, songs, users);
    expect(snapshots.songs[0]!.objects).toBeGreaterThan(3);

    // Every other track and one unknown; every third user of the snapshot and users it does not have.
    const asked = [...songs.filter((_, i) => i % 2 === 0).map((s) => s.trackId), 'unknown-track'];
    const askedUsers = [...users.filter((_, i) => i % 3 === 0), 2, 9, 2_147_483_647];
    const catalogue = await readKeysCatalogue(store, snapshots, Buffer.from(asked.join('\n')), askedUsers);
    for (const [i, song] of songs.entries()) expect(catalogue.trackOf(song.trackId)).toEqual(i % 2 === 0 ? lakeTrackOf(song) : undefined);
    expect(catalogue.trackOf('unknown-track')).toBeUndefined();
    expect([...catalogue.users.values()].sort((a, b) => a - b)).toEqual(users.filter((_, i) => i % 3 === 0));
  });

  it("numbers the keys' tracks by their line and enriches them from the snapshot's bytes, as the songs' strings would", async () => {
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
    const { tracks } = catalogue;
    expect(tracks.size).toBe(asked.length);
    const byId = new Map(songs.map((song) => [song.trackId, song]));
    const nameValue = new Map<string, number>();
    for (const [t, id] of asked.entries()) {
      expect(Buffer.from(tracks.bytesOf(t, 0)).toString()).toBe(id);
      expect(tracks.trackOf(t)).toEqual(lakeTrackOf(byId.get(id)));
      if (!tracks.catalogued(t)) continue;
      // Tracks of one name share its value: a row group's dictionary lists it once.
      const name = tracks.trackOf(t)!.trackName;
      const value = tracks.stringIds[t * 4 + 1]!;
      expect(nameValue.get(name) ?? value).toBe(value);
      nameValue.set(name, value);
    }
    expect(tracks.catalogued(asked.length - 1)).toBe(false);
    expect(tracks.trackOf(0)!.genres).toBe('pop;k-pop');
    expect(nameValue.size).toBe(97);
  });

  it('writes each row to the groups it is asked for, and a row bigger than an object whole', async () => {
    const folder = dirUrl(await tempDir('musicflow-snapshot-'));
    const writer = new SongsSnapshotWriter(store, `${folder}songs/`, 3);
    const song = (trackId: string, trackName = 'n') => ({ trackId, trackName, artists: ['a'], popularity: 1, durationMs: 2 });
    await writer.add('only-0', 'g', song('only-0'), 0b001);
    await writer.add('zero-and-two', 'g', song('zero-and-two'), 0b101);
    await writer.add('big', 'g', song('big', 'x'.repeat(3 << 20)), 0b110);
    await writer.add('only-2', 'g', song('only-2'), 0b100);
    await writer.close();
    const ids = ['only-0', 'zero-and-two', 'big', 'only-2'];
    const found = async (g: number) => {
      const catalogue = await readKeysCatalogue(
        store,
        { songs: [songsSnapshotGroup(writer.snapshot, g)], usersUrls: (await write(folder, [], [])).usersUrls },
        Buffer.from(ids.join('\n')),
        [],
      );
      return ids.filter((id) => catalogue.trackOf(id));
    };
    expect(writer.snapshot.groups).toEqual([1, 1, 3]);
    expect(await found(0)).toEqual(['only-0', 'zero-and-two']);
    expect(await found(1)).toEqual(['big']);
    expect(await found(2)).toEqual(['zero-and-two', 'big', 'only-2']);
    expect(await found(3)).toEqual(['only-0', 'zero-and-two']);
  });

  it('refuses a snapshot that ends inside a row', async () => {
    const folder = dirUrl(await tempDir('musicflow-snapshot-'));
    const snapshots = await write(folder, [{ trackId: 't', trackName: 'n', artists: ['a'], popularity: 1, durationMs: 2, genres: ['g'] }], []);
    const url = `${snapshots.songs[0]!.url}0.bin`;
    const bytes = await store.readBuffer(url);
    await store.write(url, bytes.subarray(0, bytes.length - 1));
    await expect(readKeysCatalogue(store, snapshots, Buffer.from('t'), [])).rejects.toThrow(/ends inside a row/);
  });

  it('reads an empty catalogue as empty', async () => {
    const folder = dirUrl(await tempDir('musicflow-snapshot-'));
    const catalogue = await readKeysCatalogue(store, await write(folder, [], []), Buffer.from('a\nb'), [1, 2]);
    expect(catalogue.trackOf('a')).toBeUndefined();
    expect(catalogue.users.size).toBe(0);
  });
});
