/**
 * The run's catalogue snapshot (written by the extractor, read by every
 * transformer) round-trips through a real store: lines are written in
 * batches and read back in batches whose reads cut through lines and through
 * multi-byte characters.
 */
import { describe, expect, it } from 'vitest';
import { readSongsSnapshot, readUsersSnapshot, writeSongsSnapshot, writeUsersSnapshot, type Song } from '@musicflow/ingest';
import { createObjectStore } from '@musicflow/storage';
import { dirUrl, tempDir } from '../helpers/env.ts';

describe('catalogue snapshot', () => {
  const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });

  it('reads back every song and user as written, across many batches and reads', async () => {
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

    await writeSongsSnapshot(store, `${folder}songs.ndjson`, songs);
    await writeUsersSnapshot(store, `${folder}users.txt`, users);

    const songsRead = await readSongsSnapshot(store, `${folder}songs.ndjson`);
    expect(songsRead.size).toBe(songs.length);
    for (const song of songs) expect(songsRead.get(song.trackId)).toEqual(song);
    expect([...(await readUsersSnapshot(store, `${folder}users.txt`)).values()].sort((a, b) => a - b)).toEqual(users);
  });

  it('reads an empty catalogue as empty', async () => {
    const folder = dirUrl(await tempDir('musicflow-snapshot-'));
    await writeSongsSnapshot(store, `${folder}songs.ndjson`, []);
    await writeUsersSnapshot(store, `${folder}users.txt`, []);
    expect((await readSongsSnapshot(store, `${folder}songs.ndjson`)).size).toBe(0);
    expect((await readUsersSnapshot(store, `${folder}users.txt`)).size).toBe(0);
  });
});
