/**
 * The KPI dashboard in a real browser (headless Chromium through
 * playwright-core), behind the token (API_PROTECT_READS=true): the charts are
 * drawn with the warehouse's numbers of the chosen day, a date change redraws
 * them, the tables and recent runs show, Chart.js comes from the API itself.
 * At 1,400 px wide no table is cut off. A track name that is markup shows as
 * text. DASHBOARD_SCREENSHOT=<file.png> also saves a screenshot (docs/dashboard.png).
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '@musicflow/service-api';
import { DATA_CHECK_NAMES } from '@musicflow/contracts';
import { createTestDatabase, dropTestDatabase, testConfig } from '../helpers/env.ts';
import { startPipeline, type TestPipeline } from '../helpers/pipeline.ts';
import { deleteKeys, makeBucket, sampleStreams, type Bucket } from './fixtures.ts';
import { cutOffTables, launchChromium } from '../helpers/browser.ts';

const TOKEN = `dash-${randomBytes(16).toString('hex')}`;
// Found, or installed, by the global setup (test/setup/chromium.ts).
const CHROMIUM = inject('chromiumPath');
const SCREENSHOT = process.env.DASHBOARD_SCREENSHOT;

interface Drawn {
  date: string;
  hours: string[];
  plays: number[];
  listeners: number[];
  genres: string[];
  genrePlays: number[];
  genreIndex: number[];
}

describe('KPI dashboard in a browser', () => {
  let db: string;
  let bucket: Bucket;
  let pipeline: TestPipeline;
  let app: FastifyInstance;
  let browser: Browser;
  let base: string;
  const requests: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    bucket = await makeBucket(2, SCREENSHOT ? 3000 : 150);
    // The first file's events once more, a day later: a second date to switch to.
    await bucket.addStream('next-day.csv', (await sampleStreams(0, SCREENSHOT ? 2000 : 90)).replaceAll('2024-06-25', '2024-06-26'));
    pipeline = await startPipeline(testConfig({ ...bucket.env, WAREHOUSE_URL: db, API_TOKEN: TOKEN, API_PROTECT_READS: 'true' }));
    const report = await pipeline.run();
    expect(report.status).toBe('succeeded');
    expect(report.dates).toEqual(['2024-06-25', '2024-06-26']);
    app = await buildApp(pipeline.ctx);
    await app.listen({ host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    browser = await launchChromium(CHROMIUM);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await pipeline?.close();
    if (pipeline) await deleteKeys(pipeline.ctx.config.QUEUE_PREFIX);
    if (db) await dropTestDatabase(db);
    await bucket?.close();
  });

  /** What the two charts hold, read from Chart.js itself. */
  const drawn = (page: Page) =>
    page.evaluate(() => {
      // Runs in the page: its globals, typed here without the DOM library.
      const page = globalThis as unknown as {
        Chart: { getChart(id: string): { data: { labels: string[]; datasets: { data: number[] }[] } } };
        document: { body: { dataset: Record<string, string> } };
      };
      const get = (id: string) => page.Chart.getChart(id);
      const hourly = get('hourly-chart').data;
      const genre = get('genre-chart').data;
      return {
        date: page.document.body.dataset.date!,
        hours: hourly.labels,
        plays: hourly.datasets[0]!.data,
        listeners: hourly.datasets[1]!.data,
        genres: genre.labels,
        genrePlays: genre.datasets[0]!.data,
        genreIndex: genre.datasets[1]!.data,
      } satisfies Drawn;
    });

  /** The same figures straight from the warehouse. */
  async function expected(date: string) {
    const warehouse = await pipeline.ctx.warehouse();
    const hourly = await warehouse.kpis('hourly', date);
    const genre = (await warehouse.kpis('genre', date)).sort(
      (a, b) => Number(b.listen_count) - Number(a.listen_count) || String(a.genre).localeCompare(String(b.genre)),
    );
    const hour = (h: number) => hourly.find((r) => r.listen_hour === h);
    return {
      date,
      hours: Array.from({ length: 24 }, (_, h) => `${String(h).padStart(2, '0')}h`),
      plays: Array.from({ length: 24 }, (_, h) => Number(hour(h)?.total_plays ?? 0)),
      listeners: Array.from({ length: 24 }, (_, h) => Number(hour(h)?.unique_listeners ?? 0)),
      genres: genre.slice(0, 15).map((g) => String(g.genre)),
      genrePlays: genre.slice(0, 15).map((g) => Number(g.listen_count)),
      genreIndex: genre.slice(0, 15).map((g) => Number(g.popularity_index)),
      genreRows: genre.length,
      hourlyRows: hourly,
      topGenre: genre[0]!,
    };
  }

  it("draws the chosen day's numbers, redraws them for another date, and shows the tables and runs", async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'analyst', password: TOKEN }, viewport: { width: 1400, height: 1300 } });
    const page = await context.newPage();
    page.on('request', (r) => requests.push(r.url()));
    try {
      expect((await page.goto(`${base}/dashboard`))?.status()).toBe(200);
      await page.locator('body[data-ready="true"]').waitFor({ timeout: 15_000 });
      // The newest date is shown first.
      const day2 = await expected('2024-06-26');
      const { genreRows: rows2, hourlyRows: _h2, topGenre: top2, ...charts2 } = day2;
      expect(await drawn(page)).toEqual(charts2);
      expect(charts2.plays.reduce((a, b) => a + b, 0)).toBe(SCREENSHOT ? 2000 : 90);
      expect(await page.locator('#genre-table tbody tr').count()).toBe(rows2);
      const firstGenre = page.locator('#genre-table tbody tr').first().locator('td');
      expect(await firstGenre.nth(0).textContent()).toBe(top2.genre);
      expect(await firstGenre.nth(4).textContent()).toBe(top2.most_popular_track_name);

      await page.selectOption('#date', '2024-06-25');
      await page.locator('body[data-date="2024-06-25"]:not([data-loading])').waitFor();
      const day1 = await expected('2024-06-25');
      const { genreRows: rows1, hourlyRows: hourly1, topGenre: _t1, ...charts1 } = day1;
      expect(await drawn(page)).toEqual(charts1);
      expect(charts1.plays).not.toEqual(charts2.plays);
      expect(await page.locator('#genre-table tbody tr').count()).toBe(rows1);
      // Top artist per hour, as the warehouse has it.
      const artists = await page.locator('#hourly-table tbody tr td:nth-child(6)').allTextContents();
      expect(artists).toEqual(hourly1.map((h) => (h.top_artist as string | null) ?? '–'));

      const run = page.locator('#runs-table tbody tr').first().locator('td');
      expect(await run.nth(2).textContent()).toBe('succeeded');
      expect(await run.nth(10).textContent()).toBe(`✓ all ${DATA_CHECK_NAMES.length}`);
      expect(await page.locator('#bull-board').getAttribute('href')).toBe('/admin/queues');
      // Everything the page loaded came from the API: no CDN.
      expect(requests.filter((u) => !u.startsWith(base))).toEqual([]);
      expect(requests).toContain(`${base}/dashboard/chart.umd.min.js`);
      expect(await cutOffTables(page)).toEqual([]);
      if (SCREENSHOT) await page.screenshot({ path: SCREENSHOT, fullPage: true });
    } finally {
      await context.close();
    }
  });

  it('without the token neither the page nor its data is served', async () => {
    for (const path of ['/dashboard', '/dashboard/api/day?date=2024-06-25', '/dashboard/api/runs']) {
      const res = await fetch(`${base}${path}`);
      expect(res.status).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm="musicflow"/);
      expect(await res.text()).not.toContain('2024-06-25T');
    }
  });
});
