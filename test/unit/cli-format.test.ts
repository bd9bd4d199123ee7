/**
 * The CLI's terminal output, pure: KPI tables and the run report fit 80 and
 * 120 columns (every line, measured as a terminal draws it: wide characters
 * take two), long and hostile names are cut with an ellipsis and cannot
 * send escape sequences, durations print as m:ss, and only the most played
 * genres print, with a line pointing to the rest.
 */
import stringWidth from 'string-width';
import { describe, expect, it } from 'vitest';
import type { RunReport } from '@musicflow/contracts';
import { cut, DEFAULT_WIDTH, formatDuration, formatReport, formatTable, printable, terminalWidth, wrap } from '../../apps/cli/src/format.ts';
import { formatGenreKpis, formatHourlyKpis, TOP_GENRES } from '../../apps/cli/src/kpi-tables.ts';
import { formatPlan } from '../../apps/cli/src/backfill.ts';

const WIDTHS = [80, 120];
const POINTER = { dashboardUrl: 'http://localhost:3000/dashboard' };
const DATE = '2024-06-25';

const genre = (i: number, name: string, track: string) => ({
  listen_date: DATE,
  genre: name,
  listen_count: 1000 - i,
  avg_track_duration_ms: 258113.25 + i,
  avg_popularity: 41.2345,
  popularity_index: 412.345 - i,
  most_popular_track_id: `2m03BtMMefvQspKp35y${String(i).padStart(3, '0')}`,
  most_popular_track_name: track,
  most_popular_track_plays: 12,
});
const HOSTILE = [
  'Ocean \u001b[2J\u001b[31mred\u001b[0m\rline',
  '夜に駆ける ・ 群青 ・ アイドル ・ 怪物 ・ 優しい彗星 ・ ハルジオン ・ たぶん',
  `🎸🎶 ${'Very Long Track Name With Many Words '.repeat(8)}`,
  'e\u0301\u0301\u0301 combining \u202eevil\u202c',
];
const GENRES = Array.from({ length: 113 }, (_, i) => genre(i, i === 3 ? 'singer-songwriter-and-a-very-long-genre-name' : `genre-${i}`, HOSTILE[i % 4]!));
const HOURLY = Array.from({ length: 24 }, (_, h) => ({
  listen_date: DATE,
  listen_hour: h,
  unique_listeners: 477 + h,
  total_plays: 911 + h,
  unique_tracks: 900,
  track_diversity_index: 0.98765,
  top_artist: h % 2 ? HOSTILE[h % 4]! : 'The Blue Horizon',
  top_artist_plays: 4,
}));

const widest = (text: string) => Math.max(...text.split('\n').map((l) => stringWidth(l)));

describe('CLI output fitted to the terminal', () => {
  for (const width of WIDTHS) {
    it(`genre table at ${width} columns: the top ${TOP_GENRES}, every line fits, durations m:ss, a pointer to the rest`, () => {
      const text = formatGenreKpis(DATE, GENRES, width, POINTER);
      expect(widest(text)).toBeLessThanOrEqual(width);
      const lines = text.split('\n');
      expect(lines[0]).toBe(`analytics.genre_kpis, listen_date ${DATE} (113 rows): the 15 most played`);
      const body = lines.slice(4, 4 + TOP_GENRES);
      expect(body[0]).toMatch(/^genre-0\s+1,000\s+4:18\s/);
      expect(body.every((l) => /\s\d:\d\d\s/.test(l))).toBe(true);
      expect(text).not.toContain('258113');
      expect(text).not.toContain('genre-15 ');
      const pointer = text.slice(text.indexOf('… and 98 more genres')).replace(/\s+/g, ' ');
      expect(pointer).toContain('analytics.genre_kpis has all 113');
      expect(pointer).toContain(`${POINTER.dashboardUrl}?date=${DATE}`);
      // Nothing that would move the cursor, clear the screen or reorder text.
      expect([...text].filter((ch) => ch !== '\n' && /[\p{Cc}\u202e]/u.test(ch))).toEqual([]);
      expect(text).toContain('Ocean \ufffd[2J');
      // Names that do not fit end in an ellipsis.
      expect(text).toMatch(/🎸🎶 Very Long[^\n]*…/);
    });

    it(`hourly table at ${width} columns: every hour, every line fits`, () => {
      const text = formatHourlyKpis(DATE, HOURLY, width);
      expect(widest(text)).toBeLessThanOrEqual(width);
      expect(text).toMatch(/^\s+23\s+500\s+934\s+900\s+0\.988\s/m);
      expect(text.split('\n')).toHaveLength(4 + 24);
    });

    it(`run report at ${width} columns: long lines wrap under their label, a long file name is broken, not lost`, () => {
      const file = `s3://bucket/streams/${'deep/'.repeat(30)}streams-2024-06-25.csv`;
      const report: RunReport = {
        runId: '20240626-020000-abc123',
        trigger: 'demo',
        status: 'partial',
        startedAt: '2024-06-26T02:00:00.000Z',
        finishedAt: '2024-06-26T02:04:18.000Z',
        sources: { streams: 's3://bucket/streams/', users: 'u', songs: 's' },
        files: { total: 3, loaded: 2, rejected: 1, firstRejected: [{ file, reasons: ['header: missing column listen_time \u001b[31m'] }] },
        rows: { read: 34038, valid: 34000, rejected: 38, rejectedByReason: { invalid_user_id: 38 }, duplicate: 0, orphanTracks: 12, orphanUsers: 3 },
        catalogue: { users: 25000, songs: 89740, rejected: 0 },
        dates: ['2024-06-25', '2024-06-26'],
        kpiRows: { genre: 226, hourly: 48 },
        stageMs: { extract: 1200, validate: 3400, transform: 5600, kpi: 7800, load: 900 },
      };
      const text = formatReport(report, width);
      expect(widest(text)).toBeLessThanOrEqual(width);
      expect(text.replace(/\n\s*/g, '')).toContain(file.replace(/\s/g, ''));
      expect(text).toMatch(/orphans {4}12 events with a track not in the catalogue,/);
      expect(text).not.toContain('\u001b');
    });
  }

  for (const width of WIDTHS) {
    it(`backfill plan at ${width} columns: times to the minute, every line fits`, () => {
      const loaded = { loadedAt: '2024-06-26T02:01:07.123Z', lakeWrittenAt: '2024-06-27T03:04:05.678Z' };
      const text = formatPlan(
        {
          spec: { from: '2024-06-01', to: '2024-06-30', only: 'stale', concurrency: 2 },
          dates: [
            { listenDate: '2024-06-25', parts: 12, events: 1_234_567, state: 'stale', selected: true, ...loaded },
            { listenDate: '2024-06-26', parts: 3, events: 90_000, state: 'missing', selected: true },
          ],
          selected: ['2024-06-25', '2024-06-26'],
        },
        width,
      );
      expect(widest(text)).toBeLessThanOrEqual(width);
      // Millions of events leave no room at 80 columns for when the lake was written (state says it is newer).
      const lake = width === 80 ? '' : '2024-06-27 03:04\\s+';
      expect(text).toMatch(new RegExp(`^2024-06-25\\s+12\\s+1,234,567\\s+stale\\s+2024-06-26 02:01\\s+${lake}replace$`, 'm'));
      expect(text.replace(/\s+/g, ' ')).toContain('2 of 2 lake date(s) from 2024-06-01 to 2024-06-30 (only stale): 1 to load, 1 to replace');
    });
  }

  it('fits a table: droppable columns go (highest first) before names are cut short, then names are cut', () => {
    const rows = [{ name: 'a fairly long name here', n: 12345, extra: 'x'.repeat(30), less: 'y'.repeat(20) }];
    const columns = [
      { key: 'name', shrinkTo: 6 },
      { key: 'n', kind: 'number' as const },
      { key: 'extra', dropOrder: 2 },
      { key: 'less', dropOrder: 1 },
    ];
    expect(formatTable(rows, columns)).toContain('x'.repeat(30));
    const at60 = formatTable(rows, columns, 60);
    expect(at60).not.toContain('xxx');
    expect(at60.split('\n')[2]).toBe(`a fairly long name here  12,345  ${'y'.repeat(20)}`);
    const at40 = formatTable(rows, columns, 40);
    expect(at40.split('\n')[2]).toBe('a fairly long name here  12,345');
    const at20 = formatTable(rows, columns, 20);
    expect(at20.split('\n')[2]).toBe('a fairly lo…  12,345');
    expect(widest(at20)).toBe(20);
  });

  it('formats durations as m:ss, h:mm:ss from an hour', () => {
    expect(formatDuration(258113.25)).toBe('4:18');
    expect(formatDuration(59_600)).toBe('1:00');
    expect(formatDuration(0)).toBe('0:00');
    expect(formatDuration(3_725_000)).toBe('1:02:05');
  });

  it('measures wide characters as the terminal draws them when cutting and wrapping', () => {
    expect(cut('夜に駆ける', 5)).toBe('夜に…');
    expect(stringWidth(cut('🎸🎶🎸🎶', 5))).toBeLessThanOrEqual(5);
    expect(printable('a\u001b[2Jb\tc')).toBe('a\ufffd[2Jb\ufffdc');
    expect(wrap('  label      one two three four five six', 30)).toBe('  label      one two three\n             four five six');
  });

  it('takes the width from the terminal, else COLUMNS, else a default', () => {
    expect(terminalWidth({ isTTY: true, columns: 120 }, { COLUMNS: '80' })).toBe(120);
    expect(terminalWidth({ isTTY: false }, { COLUMNS: '80' })).toBe(80);
    expect(terminalWidth({ isTTY: false }, { COLUMNS: 'wide' })).toBe(DEFAULT_WIDTH);
    expect(terminalWidth({ isTTY: false }, {})).toBe(DEFAULT_WIDTH);
  });
});
