/**
 * What a KPI pass reads. A date split into passes over user buckets reads,
 * in each pass, the pages of the lake's parts that hold its buckets (part
 * format 5's page index): about its own rows, however many passes there are.
 * Here each pass's rows read are counted against its own rows, and the
 * parts' footers are read from the lake once, by the date job.
 */
import fs from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunContext } from '@musicflow/contracts';
import { LAKE_LAYOUT, PAGE_ROWS, readDateParts, USER_BUCKETS, writeDateParts, type DatePart, type LakeEvent } from '@musicflow/lake';
import { createObjectStore, joinUrl, type ObjectStore } from '@musicflow/storage';
import { countPass, openParts } from '../../services/kpi/src/date-pass.ts';
import { dirUrl, tempDir } from '../helpers/env.ts';
import { EventWriter } from '../helpers/lake-writer.ts';

const DAY = Date.parse('2024-06-25T00:00:00Z');
const PARTS = 4;
const ROWS_PER_PART = 150_000;

/** Event `i` of part `p`: users from a million, tracks from a long tail, some exact duplicates across parts. */
function event(p: number, i: number): LakeEvent {
  const n = p * ROWS_PER_PART + i;
  const catalogued = n % 11 !== 0;
  const track = (n * 7919) % 50_000;
  return {
    // Every 50th event of part 1 repeats one of part 0: duplicates are counted by the pass that owns their user.
    userId: p === 1 && i % 50 === 0 ? 1 + ((i * 104_729) % 1_000_000) : 1 + ((n * 104_729) % 1_000_000),
    trackId: `trk-${track}`,
    listenTime: DAY + ((p === 1 && i % 50 === 0 ? i * 577 : n * 577) % 86_400_000),
    userKnown: true,
    trackName: catalogued ? `Name ${track}` : null,
    artists: catalogued ? `Artist ${track % 900}` : null,
    genres: catalogued ? ['pop', 'rock;pop', 'jazz'][track % 3]! : null,
    popularity: catalogued ? track % 101 : null,
    durationMs: catalogued ? 1000 + track : null,
    sourceFile: `file-${p}`,
  };
}

describe('KPI passes read their own pages', () => {
  let dir: string;
  let store: ObjectStore;
  let parts: DatePart[];

  beforeAll(async () => {
    dir = await tempDir('musicflow-pass-reads-');
    store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
    const urls: string[] = [];
    for (let p = 0; p < PARTS; p++) {
      const url = joinUrl(LAKE_LAYOUT.processedDate(dirUrl(dir), '2024-06-25'), `file-${p}.parquet`);
      const writer = new EventWriter(store, () => url);
      for (let i = 0; i < ROWS_PER_PART; i++) await writer.add(event(p, i));
      await writer.close();
      urls.push(url);
    }
    parts = await openParts(store, urls, new Set(urls));
  }, 120_000);
  afterAll(async () => {
    await store.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** Every pass of `passes`: its own rows, the rows it read, its distinct events and duplicates. */
  async function runPasses(passes: number) {
    const counted = [];
    for (let pass = 0; pass < passes; pass++) {
      const { accumulator: _, ...c } = await countPass(parts, pass, passes);
      counted.push(c);
    }
    return counted;
  }

  it('reads at most 1.3x its own rows in each of 30 passes (5k rows a part each), and counts every event once', async () => {
    const whole = await countPass(parts, 0, 1);
    expect(whole.rowsRead).toBe(PARTS * ROWS_PER_PART);
    const counted = await runPasses(30);
    expect(counted.reduce((n, c) => n + c.rows, 0)).toBe(PARTS * ROWS_PER_PART);
    expect(counted.reduce((n, c) => n + c.events, 0)).toBe(whole.events);
    expect(counted.reduce((n, c) => n + c.duplicate, 0)).toBe(whole.duplicate);
    expect(whole.duplicate).toBeGreaterThan(0);
    const worst = Math.max(...counted.map((c) => c.rowsRead / c.rows));
    expect(worst).toBeLessThanOrEqual(1.3);
  }, 120_000);

  it("opens the parts from the date job's artifact: no HEAD or footer read per part, the same counts", async () => {
    const run = { lake: dirUrl(dir), runId: 'reads' } as RunContext;
    await writeDateParts(store, run, '2024-06-25', parts);
    const heads: string[] = [];
    const ranges: [string, number][] = [];
    // The real store, its HEADs and ranged reads noted.
    const watched = new Proxy(store, {
      get(target, key) {
        const value = Reflect.get(target, key) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (key === 'head') heads.push(args[0] as string);
          if (key === 'read' || key === 'readBuffer') ranges.push([args[0] as string, (args[1] as { start?: number } | undefined)?.start ?? 0]);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const fromArtifact = await readDateParts(watched, run, '2024-06-25');
    expect(fromArtifact.map((p) => [p.url, p.counting, p.fileId])).toEqual(parts.map((p) => [p.url, p.counting, p.fileId]));
    expect(heads).toEqual([]);
    expect(ranges.map(([url]) => url)).toEqual([LAKE_LAYOUT.kpiDateParts(run.lake, run.runId, '2024-06-25')]);
    for (const pass of [0, 7]) {
      const { accumulator: _a, ...fromFooters } = await countPass(parts, pass, 10);
      const { accumulator: _b, ...fromTails } = await countPass(fromArtifact, pass, 10);
      expect(fromTails).toEqual(fromFooters);
    }
    // The passes read pages, never a part's tail again.
    const tails = await Promise.all(parts.map((p) => p.reader.tail()));
    for (const [url, start] of ranges.slice(1)) expect(start).toBeLessThan(tails[parts.findIndex((p) => p.url === url)]!.start);
    expect(heads).toEqual([]);
  }, 120_000);

  it('splits into more passes than the 64 buckets of part formats 2-4: each reads its rows and less than two pages a part more', async () => {
    const passes = 200;
    expect(passes).toBeLessThan(USER_BUCKETS);
    const counted = await runPasses(passes);
    expect(counted.reduce((n, c) => n + c.rows, 0)).toBe(PARTS * ROWS_PER_PART);
    // A page is cut where the bucket its PAGE_ROWS-th row falls in ends (about 37 rows a bucket here).
    for (const c of counted) expect(c.rowsRead - c.rows).toBeLessThan(PARTS * 2 * (PAGE_ROWS + 100));
  }, 300_000);
});
