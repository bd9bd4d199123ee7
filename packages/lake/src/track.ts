import type { LakeTrack } from './part-writer.ts';

/** A catalogue song as the lake's rows carry it (what the transformer and a re-enrich write). */
export const lakeTrackOf = (
  song: { trackName: string; artists: string[]; genres: string[]; popularity: number; durationMs: number } | undefined,
): LakeTrack | undefined =>
  song && {
    trackName: song.trackName,
    artists: song.artists.join(';'),
    genres: song.genres.join(';'),
    popularity: song.popularity,
    durationMs: song.durationMs,
  };
