import { userBucketOf, type LakeEvent } from '@musicflow/lake';

/** Every column of LAKE_PARQUET_SCHEMA for `events`, by name: what another writer is given to write a lake part. */
export function lakeColumnValues(events: readonly LakeEvent[]): Record<string, unknown[]> {
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
    user_bucket: events.map((e) => userBucketOf(e.userId)),
    source_file: events.map((e) => e.sourceFile),
  };
}
