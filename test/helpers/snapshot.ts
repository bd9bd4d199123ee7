import { validateSongRow, type Song } from '@musicflow/ingest';
import { readKeysCatalogue, SongsSnapshotWriter, songsSnapshotGroup, UsersSnapshotWriter, type LakeTrack } from '@musicflow/lake';
import { createObjectStore } from '@musicflow/storage';
import { dirUrl, tempDir } from './env.ts';

/**
 * The songs a run's snapshot gives for `rows` (catalogue rows that pass
 * SPEC 2.3), written through the catalogue job's writer and read back the way
 * a transform reads them, by track id.
 */
export async function snapshotSongs(rows: Record<string, string | undefined>[]): Promise<Map<string, Song>> {
  const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
  const folder = dirUrl(await tempDir('musicflow-snapshot-'));
  const usersUrl = `${folder}users.bin`;
  const songs = new SongsSnapshotWriter(store, `${folder}songs/`);
  const ids = new Set<string>();
  for (const row of rows) {
    const r = validateSongRow(row);
    if (!('trackId' in r)) throw new Error(r.reason);
    ids.add(r.trackId);
    await songs.add(r.trackId, r.genre, r.song);
  }
  await songs.close();
  await new UsersSnapshotWriter(store, usersUrl).close();
  const catalogue = await readKeysCatalogue(
    store,
    { songs: [songsSnapshotGroup(songs.snapshot, 0)], usersUrls: [usersUrl] },
    Buffer.from([...ids].join('\n')),
    [],
  );
  await store.close();
  return new Map([...ids].map((id) => [id, songOf(id, catalogue.trackOf(id))!]));
}

/** A lake track's enrichment as the song it came from (artists and genres split at `;`). */
export function songOf(trackId: string, track: LakeTrack | undefined): Song | undefined {
  const split = (text: string) => (text ? text.split(';') : []);
  return (
    track && {
      trackId,
      trackName: track.trackName,
      artists: split(track.artists),
      popularity: track.popularity,
      durationMs: track.durationMs,
      genres: split(track.genres),
    }
  );
}
