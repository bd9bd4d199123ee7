/**
 * The dashboard's trends and operations views in headless Chromium, behind the
 * token. Seven listen dates up to yesterday are loaded by a run, recomputed by
 * a backfill, and one of them again by a run the landing sensor starts. The
 * trends view draws, for its default range (the last 28 days) and a chosen
 * one, each date's plays and busiest-hour listeners, the range's most played
 * genres per date and the runs with status and duration, all as the warehouse
 * has them; a range beyond the cap is refused naming it. The operations view
 * shows the sensor's last look and the backfill with each date's status. A
 * genre and track names that are markup show as text; at 1,400 px no table is
 * cut off. DASHBOARD_SCREENSHOTS=<folder> saves trends.png and operations.png.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '@musicflow/service-api';
import { senseLandings } from '@musicflow/flow';
import { addDays, MAX_TREND_DAYS } from '@musicflow/warehouse';
import { createTestDatabase, dropTestDatabase, testConfig } from '../helpers/env.ts';
import { startPipeline, waitForReport, type TestPipeline } from '../helpers/pipeline.ts';
import { cutOffTables, launchChromium } from '../helpers/browser.ts';
import { deleteKeys, makeBucket, sampleStreams, waitFor, type Bucket } from './fixtures.ts';

const TOKEN = `views-${randomBytes(16).toString('hex')}`;
const CHROMIUM = inject('chromiumPath');
const SCREENSHOTS = process.env.DASHBOARD_SCREENSHOTS;
const DAYS = 7;
const ROWS = SCREENSHOTS ? 1500 : 100;
const TODAY = new Date().toISOString().slice(0, 10);
const DATES = Array.from({ length: DAYS }, (_, i) => addDays(TODAY, i - DAYS));
/** Genres starting with an a become this one (so it is the most played); every track's name starts with markup. */
const HOSTILE_GENRE = '<i>lo-fi</i> & "chill"';
const HOSTILE_TRACK = '<img src=x onerror="document.body.dataset.pwned=1">';

describe('dashboard trends and operations views in a browser', () => {
  let db: string;
  let bucket: Bucket;
  let pipeline: TestPipeline;
  let app: FastifyInstance;
  let browser: Browser;
  let context: BrowserContext;
  let base: string;
  let backfillId: string;
  let sensorRunId: string;
  const requests: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(DAYS, ROWS);
    // Each file a date of its own, with fewer events on some, so the lines move.
    for (const [i, date] of DATES.entries()) {
      const file = path.join(bucket.streamsDir, `part-${i + 1}.csv`);
      const lines = (await fs.readFile(file, 'utf8')).split('\n');
      const kept = lines.slice(0, 1 + ROWS - (i % 3) * Math.floor(ROWS / 4));
      await fs.writeFile(file, `${kept.join('\n').replaceAll('2024-06-25', date)}\n`);
    }
    const songsFile = new URL(bucket.env.SONGS_URL!).pathname;
    const songs: Record<string, string>[] = parse(await fs.readFile(songsFile), { columns: true });
    for (const song of songs) {
      song.track_name = `${HOSTILE_TRACK}${song.track_name}`;
      if (song.track_genre!.startsWith('a')) song.track_genre = HOSTILE_GENRE;
    }
    await fs.writeFile(songsFile, stringify(songs, { header: true }));

    const config = testConfig({ ...bucket.env, WAREHOUSE_URL: db, API_TOKEN: TOKEN, API_PROTECT_READS: 'true', SENSOR_INTERVAL: '1h', SENSOR_QUIET: '10m' });
    pipeline = await startPipeline(config);
    expect(await pipeline.run()).toMatchObject({ status: 'succeeded', dates: DATES });
    app = await buildApp(pipeline.ctx);
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    const auth = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };

    const started = await fetch(`${base}/backfills`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify({ from: DATES[0], to: DATES.at(-1), only: 'all', concurrency: 2 }),
    });
    expect(started.status).toBe(202);
    backfillId = ((await started.json()) as { backfillId: string }).backfillId;
    await waitFor('the backfill to finish', async () => {
      const view = (await (await fetch(`${base}/backfills/${backfillId}`, { headers: auth })).json()) as { state: string };
      return view.state === 'succeeded';
    });

    // A late file for yesterday: the sensor sees it, then starts a run once it has been quiet long enough.
    await bucket.addStream('late.csv', (await sampleStreams(0, 40)).replaceAll('2024-06-25', DATES.at(-1)!));
    const now = Date.now();
    const sense = (at: number) => senseLandings(config, pipeline.ctx.queues, pipeline.ctx.store, pipeline.ctx.logger, at);
    expect(await sense(now - config.SENSOR_QUIET)).toMatchObject({ files: 1, waiting: 1 });
    const look = await sense(now);
    sensorRunId = look.lastRunId!;
    expect(await waitForReport(pipeline.ctx, sensorRunId)).toMatchObject({ trigger: 'sensor', status: 'succeeded', dates: [DATES.at(-1)] });

    browser = await launchChromium(CHROMIUM);
    context = await browser.newContext({ httpCredentials: { username: 'analyst', password: TOKEN }, viewport: { width: 1400, height: 1300 } });
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await app?.close();
    await pipeline?.close();
    if (pipeline) await deleteKeys(pipeline.ctx.config.QUEUE_PREFIX);
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  async function open(query: string): Promise<Page> {
    const page = await context.newPage();
    page.on('request', (r) => requests.push(r.url()));
    expect((await page.goto(`${base}/dashboard?${query}`))?.status()).toBe(200);
    await page.locator('body[data-ready="true"], #error:not(:empty)').first().waitFor({ timeout: 15_000 });
    return page;
  }

  /** Labels and datasets of a chart, read from Chart.js itself. */
  const chart = (page: Page, id: string) =>
    page.evaluate((canvas) => {
      const { Chart } = globalThis as unknown as {
        Chart: { getChart(id: string): { data: { labels: string[]; datasets: { label: string; data: number[] }[] } } };
      };
      const { labels, datasets } = Chart.getChart(canvas).data;
      return { labels, datasets: datasets.map((d) => ({ label: d.label, data: d.data })) };
    }, id);

  /** Each date's plays and busiest-hour listeners, and each genre's plays per date, from the KPI tables. */
  async function expected(dates: string[]) {
    const warehouse = await pipeline.ctx.warehouse();
    const plays: number[] = [];
    const listeners: number[] = [];
    const genres = new Map<string, number[]>();
    for (const [i, date] of dates.entries()) {
      const hourly = await warehouse.kpis('hourly', date);
      plays.push(hourly.reduce((n, h) => n + Number(h.total_plays), 0));
      listeners.push(Math.max(0, ...hourly.map((h) => Number(h.unique_listeners))));
      for (const g of await warehouse.kpis('genre', date)) {
        const row =
          genres.get(String(g.genre)) ??
          genres
            .set(
              String(g.genre),
              dates.map(() => 0),
            )
            .get(String(g.genre))!;
        row[i] = Number(g.listen_count);
      }
    }
    return { plays, listeners, genres };
  }

  const total = (plays: number[]) => plays.reduce((a, b) => a + b, 0);

  it('draws the last 28 days by default: plays, listeners, top genres and runs as the warehouse has them', async () => {
    const page = await open('view=trends');
    try {
      expect(await page.inputValue('#trend-to')).toBe(TODAY);
      expect(await page.inputValue('#trend-from')).toBe(addDays(TODAY, -27));
      const dates = Array.from({ length: 28 }, (_, i) => addDays(TODAY, i - 27));
      const want = await expected(dates);
      const daily = await chart(page, 'trend-daily-chart');
      expect(daily.labels).toEqual(dates);
      expect(daily.datasets.map((d) => d.data)).toEqual([want.plays, want.listeners]);
      expect(total(want.plays)).toBeGreaterThan(0);

      // The most played genres of the range, most played first, each date's plays; none left out plays more.
      const genres = (await chart(page, 'trend-genre-chart')).datasets;
      expect(genres).toHaveLength(8);
      for (const g of genres) expect(g.data).toEqual(want.genres.get(g.label));
      const totals = genres.map((g) => total(g.data));
      expect(totals).toEqual([...totals].sort((a, b) => b - a));
      const drawn = new Set(genres.map((g) => g.label));
      const leftOut = [...want.genres].filter(([name]) => !drawn.has(name)).map(([, plays]) => total(plays));
      expect(Math.max(...leftOut)).toBeLessThanOrEqual(totals.at(-1)!);
      expect(genres[0]!.label).toBe(HOSTILE_GENRE);

      // Runs started in the range: the first run, the backfill's seven, the sensor's; newest first, duration m:ss.
      const runs = await (
        await pipeline.ctx.warehouse()
      ).query<{ run_id: string; status: string; started_at: Date; finished_at: Date }>(
        'SELECT run_id, status, started_at, finished_at FROM analytics.etl_runs ORDER BY started_at DESC, run_id DESC',
      );
      expect(runs).toHaveLength(1 + DAYS + 1);
      const rows = await page
        .locator('#trend-runs-table tbody tr')
        .evaluateAll((trs) => trs.map((tr) => [...(tr as unknown as { cells: Iterable<{ textContent: string }> }).cells].map((td) => td.textContent)));
      const mss = (ms: number) => `${Math.floor(Math.round(ms / 1000) / 60)}:${String(Math.round(ms / 1000) % 60).padStart(2, '0')}`;
      expect(rows.map((r) => [r[1], r[3], r[4]])).toEqual(runs.map((r) => [r.run_id, r.status, mss(r.finished_at.getTime() - r.started_at.getTime())]));
      expect(rows.map((r) => r[2])).toEqual(expect.arrayContaining(['test', 'backfill', 'sensor']));
      expect(rows[0]![1]).toBe(sensorRunId);
      const bars = await chart(page, 'trend-runs-chart');
      expect(bars.datasets[0]!.data).toEqual(runs.map((r) => (r.finished_at.getTime() - r.started_at.getTime()) / 1000).reverse());

      // Markup in a genre name is text: shown as written, nothing injected.
      const days = page.locator('#trend-days-table tbody tr');
      expect(await days.count()).toBe(28);
      // Each date's most played genre of all, not only of those drawn.
      const mostPlayed = dates.map((_, i) => {
        const best = Math.max(0, ...[...want.genres.values()].map((plays) => plays[i]!));
        return best ? [...want.genres].filter(([, plays]) => plays[i] === best).map(([name]) => name) : ['–'];
      });
      const shownTop = await page.locator('#trend-days-table tbody tr td:nth-child(5)').allTextContents();
      expect(shownTop.map((g, i) => mostPlayed.at(-1 - i)!.includes(g))).toEqual(dates.map(() => true));
      expect(await days.first().locator('td').nth(0).textContent()).toBe(TODAY);
      expect(await days.nth(1).locator('td').nth(4).textContent()).toBe(HOSTILE_GENRE);
      expect(await page.locator('#trend-days-table i').count()).toBe(0);
      expect(await cutOffTables(page)).toEqual([]);
      if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, 'trends.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });

  it('draws a chosen range, and refuses one longer than the cap naming it', async () => {
    const [from, to] = [DATES[2]!, DATES[4]!];
    const page = await open(`view=trends&from=${from}&to=${to}`);
    try {
      const want = await expected([from, DATES[3]!, to]);
      const daily = await chart(page, 'trend-daily-chart');
      expect(daily.labels).toEqual([from, DATES[3], to]);
      expect(daily.datasets[0]!.data).toEqual(want.plays);
      // No run started on these past dates.
      expect(await page.locator('#trend-runs-table tbody tr').count()).toBe(0);
    } finally {
      await page.close();
    }
    const tooLong = `from=${addDays(TODAY, -MAX_TREND_DAYS)}&to=${TODAY}`;
    const refused = await open(`view=trends&${tooLong}`);
    try {
      expect(await refused.locator('#error').textContent()).toContain(`at most ${MAX_TREND_DAYS} days`);
    } finally {
      await refused.close();
    }
    const res = await fetch(`${base}/dashboard/api/trends?${tooLong}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/\bto\b/);
    const reversed = await fetch(`${base}/dashboard/api/trends?from=${TODAY}&to=${DATES[0]}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(reversed.status).toBe(400);
  });

  it("shows the landing sensor's last look and the backfill with each date's status", async () => {
    const page = await open('view=ops');
    try {
      const sensor = Object.fromEntries(
        await page
          .locator('#sensor dt')
          .evaluateAll((dts) =>
            dts.map((dt) => [dt.textContent, (dt as unknown as { nextElementSibling: { textContent: string } }).nextElementSibling.textContent]),
          ),
      ) as Record<string, string>;
      expect(sensor.state).toBe('on: looks every 60 min, starts a run after 10 min quiet');
      expect(sensor['stream files seen']).toBe('1');
      expect(sensor['waiting for a run']).toBe('0');
      expect(sensor['last run started']).toContain(sensorRunId);
      expect(sensor['last look']).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC \(\d+ min ago\)$/);

      const row = page.locator('#backfills-table tbody tr');
      expect(await row.count()).toBe(1);
      const cells = row.locator('td');
      expect(await cells.nth(0).textContent()).toBe(backfillId);
      expect(await cells.nth(1).textContent()).toBe('succeeded');
      expect(await cells.nth(2).textContent()).toBe(`${DATES[0]} to ${DATES.at(-1)}`);
      expect(await cells.nth(6).textContent()).toBe(`${DAYS} of ${DAYS} done, ${DAYS} succeeded, 0 running`);
      const chips = await cells
        .nth(7)
        .locator('.chip')
        .evaluateAll((spans) => spans.map((s) => (s as unknown as { title: string }).title));
      expect(chips).toEqual(DATES.map((d) => `${d}: succeeded (run ${backfillId}-${d})`));
      expect(await cutOffTables(page)).toEqual([]);
      if (SCREENSHOTS) await page.screenshot({ path: path.join(SCREENSHOTS, 'operations.png'), fullPage: true });
    } finally {
      await page.close();
    }
  });

  it('shows markup in track names as text in the day view, and loads nothing from outside the API', async () => {
    const page = await open(`date=${DATES.at(-1)}`);
    try {
      const top = page.locator('#genre-table tbody tr').first().locator('td');
      expect(await top.nth(0).textContent()).toBe(HOSTILE_GENRE);
      expect(await top.nth(4).textContent()).toMatch(/^<img src=x onerror=/);
      expect(await page.locator('main img, main i').count()).toBe(0);
      expect(
        await page.evaluate(() => (globalThis as unknown as { document: { body: { dataset: Record<string, string> } } }).document.body.dataset.pwned),
      ).toBeUndefined();
      expect(await cutOffTables(page)).toEqual([]);
    } finally {
      await page.close();
    }
    expect(requests.filter((u) => !u.startsWith(base))).toEqual([]);
  });

  it('without the token the new views’ data is not served', async () => {
    for (const route of ['/dashboard/api/trends', '/dashboard/api/operations']) expect((await fetch(`${base}${route}`)).status).toBe(401);
  });
});
