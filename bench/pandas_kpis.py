"""The old Airflow DAG's KPI logic in pandas, for the benchmark's comparison.

python3 bench/pandas_kpis.py SONGS_CSV USERS_CSV STREAM_CSV...

As the DAG did it (issue 14): read every stream CSV, to_datetime(listen_time),
concat; songs and users with dropna().drop_duplicates(); left-merge streams
with songs on track_id, then users on user_id; genre KPIs per (date, genre) and
hourly KPIs per (date, hour), the top track and artist by sort +
drop_duplicates. No validation, no dedup of events, no Parquet lake, no load.
Prints one JSON line: seconds per phase, rows, and the peak RSS of this process.
"""
import json
import resource
import sys
import time

t0 = time.perf_counter()
import pandas as pd  # noqa: E402

phases = {"import": time.perf_counter() - t0}


def phase(name, start):
    phases[name] = time.perf_counter() - start
    return time.perf_counter()


songs_csv, users_csv, *stream_csvs = sys.argv[1:]
t = time.perf_counter()
streams = pd.concat([pd.read_csv(f) for f in stream_csvs], ignore_index=True)
streams["listen_time"] = pd.to_datetime(streams["listen_time"], errors="coerce")
songs = pd.read_csv(songs_csv)[
    ["track_id", "artists", "album_name", "track_name", "popularity", "duration_ms", "track_genre"]
].dropna().drop_duplicates()
users = pd.read_csv(users_csv)[["user_id", "user_name", "user_age", "user_country", "created_at"]].dropna().drop_duplicates()
t = phase("read", t)

df = streams.merge(songs, on="track_id", how="left").merge(users, on="user_id", how="left")
df["listen_date"] = df["listen_time"].dt.date
df["listen_hour"] = df["listen_time"].dt.hour
t = phase("merge", t)

genre = df.groupby(["listen_date", "track_genre"]).agg(
    listen_count=("track_id", "count"),
    avg_track_duration_ms=("duration_ms", "mean"),
    avg_popularity=("popularity", "mean"),
).reset_index()
genre["popularity_index"] = genre["listen_count"] * genre["avg_popularity"] / 100
plays = df.groupby(["listen_date", "track_genre", "track_name"]).size().reset_index(name="plays")
top_tracks = plays.sort_values(["listen_date", "track_genre", "plays"], ascending=[True, True, False]).drop_duplicates(
    ["listen_date", "track_genre"]
)
genre = genre.merge(top_tracks, on=["listen_date", "track_genre"], how="left")
t = phase("genre", t)

hourly = df.groupby(["listen_date", "listen_hour"]).agg(
    unique_listeners=("user_id", "nunique"),
    total_plays=("track_id", "count"),
    unique_tracks=("track_id", "nunique"),
).reset_index()
hourly["track_diversity_index"] = hourly["unique_tracks"] / hourly["total_plays"]
artist_plays = df.groupby(["listen_date", "listen_hour", "artists"]).size().reset_index(name="plays")
top_artists = artist_plays.sort_values(["listen_date", "listen_hour", "plays"], ascending=[True, True, False]).drop_duplicates(
    ["listen_date", "listen_hour"]
)
hourly = hourly.merge(top_artists, on=["listen_date", "listen_hour"], how="left")
t = phase("hourly", t)

print(
    json.dumps(
        {
            "seconds": time.perf_counter() - t0,
            "cpu_seconds": time.process_time(),
            "phases": phases,
            "events": len(streams),
            "genre_rows": len(genre),
            "hourly_rows": len(hourly),
            # ru_maxrss is in KiB on Linux.
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )
)
