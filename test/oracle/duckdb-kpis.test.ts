import { describe, expect, it } from 'vitest';
import fs from 'node:fs/promises';
import path from 'node:path';
import { SAMPLE, tempDir } from '../helpers/env.ts';
import { computeKpisWithDuckDB } from './duckdb-kpis.ts';

// Distinct listeners per hour of 2024-06-25 over streams1.csv alone, hours 0-23,
// as published in data/README.md by an independent implementation.
const PUBLISHED_LISTENERS = [376, 383, 356, 369, 379, 372, 362, 372, 375, 417, 402, 384, 358, 363, 383, 390, 343, 397, 384, 397, 381, 370, 386, 260];

const songsCsv = path.join(SAMPLE, 'songs.csv');
const streams1 = path.join(SAMPLE, 'streams', 'streams1.csv');

describe('DuckDB KPI oracle', () => {
  it('matches the published per-hour listener counts of streams1.csv', async () => {
    const { hourly, genre } = await computeKpisWithDuckDB({ streamFiles: [streams1], songsCsv });
    expect(hourly.map((r) => r.listenDate)).toEqual(Array(24).fill('2024-06-25'));
    expect(hourly.map((r) => r.listenHour)).toEqual([...Array(24).keys()]);
    expect(hourly.map((r) => r.uniqueListeners)).toEqual(PUBLISHED_LISTENERS);
    for (const r of hourly) {
      expect(r.trackDiversityIndex).toBeCloseTo(r.uniqueTracks / r.totalPlays, 12);
      expect(typeof r.topArtist).toBe('string');
    }
    expect(genre.length).toBeGreaterThan(0);
    for (const g of genre) {
      expect(g.listenDate).toBe('2024-06-25');
      expect(g.mostPopularTrackPlays).toBeLessThanOrEqual(g.listenCount);
      expect(g.popularityIndex).toBeCloseTo((g.listenCount * g.avgPopularity) / 100, 9);
    }
  });

  it('applies the row rules, UTC offsets, duplicates across files and the tie-breaks', async () => {
    const dir = await tempDir('duckdb-oracle-');
    try {
      const songs = path.join(dir, 'songs.csv');
      await fs.writeFile(
        songs,
        [
          'id,track_id,artists,album_name,track_name,popularity,duration_ms,track_genre',
          '0,tA,Beta;Alpha,x,"Song, A",50,1000,rock',
          '1,tA,Other,x,ignored name,10,9,pop', // second genre of tA; name/artists/numbers from the first row
          '2,tA,Other,x,ignored,10,9,rock', // repeated pair: ignored
          '3,tB,Alpha,x,Song B,30,3000,rock',
          '4,tC,Zed,x,bad,101,1000,rock', // invalid popularity: dropped, tC unknown
        ].join('\n'),
      );
      const f1 = path.join(dir, 'a.csv');
      const f2 = path.join(dir, 'b.csv');
      await fs.writeFile(
        f1,
        '\uFEFFextra,listen_time,track_id,user_id\r\n' +
          'x,2024-06-25 10:00:00,tA,1\r\n' +
          'x,2024-06-25T12:30:00+02:00,tB,2\r\n' + // 10:30 UTC
          'x,2024-06-25T10:15:00.5Z,tC,3\r\n' +
          'x,2024-06-25 10:20:00,tB,4\r\n' +
          '\r\n',
      );
      await fs.writeFile(
        f2,
        'user_id,track_id,listen_time\n' +
          '1,tA,2024-06-25T10:00:00Z\n' + // duplicate of a.csv's first row
          '5,tA,2024-06-25 10:40:00\n' +
          '5,tB,2024-06-25 10:50:00\n' +
          '0,tA,2024-06-25 10:00:00\n' + // bad user
          Array.from({ length: 40 }, (_, i) => `${100 + i},tZ,2024-06-26 23:${String(i).padStart(2, '0')}:00\n`).join(''),
      );
      const { genre, hourly } = await computeKpisWithDuckDB({ streamFiles: [f1, f2], songsCsv: songs });
      // 2024-06-25 10:xx: tA x2 (users 1, 5), tB x3 (users 2, 4, 5), tC x1 (unknown)
      expect(hourly).toEqual([
        {
          listenDate: '2024-06-25',
          listenHour: 10,
          uniqueListeners: 5,
          totalPlays: 6,
          uniqueTracks: 3,
          trackDiversityIndex: 0.5,
          topArtist: 'Alpha',
          topArtistPlays: 5,
        },
        {
          listenDate: '2024-06-26',
          listenHour: 23,
          uniqueListeners: 40,
          totalPlays: 40,
          uniqueTracks: 1,
          trackDiversityIndex: 1 / 40,
          topArtist: null,
          topArtistPlays: null,
        },
      ]);
      expect(genre).toEqual([
        {
          listenDate: '2024-06-25',
          genre: 'pop',
          listenCount: 2,
          avgTrackDurationMs: 1000,
          avgPopularity: 50,
          popularityIndex: 1,
          mostPopularTrackId: 'tA',
          mostPopularTrackName: 'Song, A',
          mostPopularTrackPlays: 2,
        },
        {
          listenDate: '2024-06-25',
          genre: 'rock',
          listenCount: 5,
          avgTrackDurationMs: 2200,
          avgPopularity: 38,
          popularityIndex: 1.9,
          mostPopularTrackId: 'tB',
          mostPopularTrackName: 'Song B',
          mostPopularTrackPlays: 3,
        },
      ]);
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
