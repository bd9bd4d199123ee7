import { COARSE_BUCKET_SPAN, userBucketOf, type LakeEvent } from '@musicflow/lake';

/** The `user_bucket` of part formats 2-4: one of 64, in which today's nest. */
export const coarseBucketOf = (userId: number) => Math.floor(userBucketOf(userId) / COARSE_BUCKET_SPAN);

/**
 * Every column of LAKE_PARQUET_SCHEMA for `events`, by name: what another
 * writer is given to write a lake part; `user_bucket` as format `bucketsOf`
 * has it (today's by default).
 */
export function lakeColumnValues(events: readonly LakeEvent[], bucketOf: (userId: number) => number = userBucketOf): Record<string, unknown[]> {
  return {
    user_id: events.map((e) => e.userId),
    track_id: events.map((e) => e.trackId),
    listen_time: events.map((e) => e.listenTime),
    user_known: events.map((e) => e.userKnown),
    track_name: events.map((e) => e.trackName),
    artists: events.map((e) => e.artists),
    genres: events.map((e) => e.genres),
    popularity: events.map((e) => e.popularity),
    duration_ms: events.map((e) => e.durationMs),
    user_bucket: events.map((e) => bucketOf(e.userId)),
    source_file: events.map((e) => e.sourceFile),
  };
}
