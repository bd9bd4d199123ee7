/**
 * The KPI dashboard: one HTML page with plain JS (no build step) that draws
 * the warehouse's KPIs with Chart.js, served from the API's own node_modules
 * (the page needs no internet). Its data comes from the JSON routes below,
 * under the same prefix, so a browser that logged in for the page (basic auth,
 * the token as password, when API_PROTECT_READS=true) sends the same
 * credentials for them.
 */
import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { listBackfills, readSensorStatus } from '@musicflow/flow';
import { listListenDates, readTrends, TREND_RUNS } from '@musicflow/warehouse';
import type { ApiDeps } from '../deps.ts';
import { redactSources } from '../runs.ts';
import { BULL_BOARD_PATH } from '../routes/admin.ts';
import { freshnessResponse, freshnessView } from '../routes/freshness.ts';
import { errorSchema, kpiQuery, trendsQuery } from '../schemas.ts';

export const DASHBOARD_PATH = '/dashboard';
const RECENT_RUNS = 15;
/** Backfills the operations view lists, newest first (`GET /backfills` pages through all). */
const RECENT_BACKFILLS = 10;

const trendRun = z.object({
  runId: z.string(),
  trigger: z.string(),
  status: z.string(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
  durationMs: z.number().nullable(),
  rowsRead: z.number().nullable(),
  kpiRows: z.number().nullable(),
});
const trendsResponse = z.object({
  from: z.string(),
  to: z.string(),
  days: z.array(
    z.object({
      listenDate: z.string(),
      plays: z.number(),
      peakListeners: z.number().describe("distinct listeners of the date's busiest hour"),
      hours: z.number().int(),
      otherGenrePlays: z.number().describe('plays of the genres not in `genres`'),
      topGenre: z.string().nullable().describe("the date's most played genre"),
    }),
  ),
  genres: z.array(z.object({ genre: z.string(), plays: z.array(z.number()).describe('one per day of `days`') })),
  runs: z.array(trendRun),
  runsInRange: z.number().int().describe(`runs started in the range; at most ${TREND_RUNS} are listed, newest first`),
});
const epochIso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
const operationsResponse = z.object({
  sensor: z.object({
    enabled: z.boolean(),
    intervalMs: z.number().nullable(),
    quietMs: z.number(),
    checkedAt: z.string().nullable(),
    files: z.number().nullable(),
    waiting: z.number().nullable(),
    lastRunId: z.string().nullable(),
    lastRunAt: z.string().nullable(),
  }),
  backfills: z.object({
    total: z.number().int(),
    list: z.array(
      z.object({
        backfillId: z.string(),
        state: z.string(),
        from: z.string(),
        to: z.string(),
        only: z.string(),
        concurrency: z.number().int(),
        createdAt: z.string(),
        resumeOf: z.string().optional(),
        dates: z.array(z.object({ listenDate: z.string(), runId: z.string().optional(), status: z.string() })),
        error: z.string().optional(),
      }),
    ),
  }),
});

// The page and its script are static files of the package's sources: the same folder whether the API runs from src or dist.
const assets = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'dashboard');
const chartJs = path.join(path.dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');

/** Warehouse rows as JSON: dates as they are, timestamps in ISO 8601, the internal snapshot_seq left out. */
const plain = (rows: Record<string, unknown>[]) =>
  rows.map(({ snapshot_seq: _seq, ...row }) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, v instanceof Date ? v.toISOString() : v])));

export const dashboardRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const [html, script, chart] = await Promise.all([
    fs.readFile(path.join(assets, 'index.html'), 'utf8'),
    fs.readFile(path.join(assets, 'dashboard.js'), 'utf8'),
    fs.readFile(chartJs, 'utf8'),
  ]);
  const page = html.replaceAll('{{BULL_BOARD}}', BULL_BOARD_PATH);
  const hide = { hide: true };

  app.get(DASHBOARD_PATH, { schema: hide, handler: (_req, reply) => reply.type('text/html; charset=utf-8').send(page) });
  app.get(`${DASHBOARD_PATH}/dashboard.js`, { schema: hide, handler: (_req, reply) => reply.type('text/javascript; charset=utf-8').send(script) });
  app.get(`${DASHBOARD_PATH}/chart.umd.min.js`, {
    schema: hide,
    handler: (_req, reply) => reply.type('text/javascript; charset=utf-8').header('cache-control', 'public, max-age=86400').send(chart),
  });

  app.get(`${DASHBOARD_PATH}/api/dates`, {
    schema: {
      tags: ['dashboard'],
      summary: 'Listen dates with KPI rows, newest first, and freshness',
      response: { 200: z.object({ dates: z.array(z.string()), freshness: freshnessResponse }) },
    },
    handler: async () => {
      const [dates, freshness] = await Promise.all([listListenDates(await deps.warehouse()), freshnessView(deps)]);
      return { dates, freshness };
    },
  });

  app.get(`${DASHBOARD_PATH}/api/day`, {
    schema: {
      tags: ['dashboard'],
      summary: 'Both KPI tables of one listen_date',
      querystring: kpiQuery,
      response: {
        200: z.object({ date: z.string(), hourly: z.array(z.record(z.string(), z.unknown())), genre: z.array(z.record(z.string(), z.unknown())) }),
        400: errorSchema,
      },
    },
    handler: async (request) => {
      const warehouse = await deps.warehouse();
      const [hourly, genre] = await Promise.all([warehouse.kpis('hourly', request.query.date), warehouse.kpis('genre', request.query.date)]);
      return { date: request.query.date, hourly: plain(hourly), genre: plain(genre) };
    },
  });

  app.get(`${DASHBOARD_PATH}/api/trends`, {
    schema: {
      tags: ['dashboard'],
      summary: 'Daily plays and listeners, the most played genres per date, and the runs of a range of listen dates',
      querystring: trendsQuery,
      response: { 200: trendsResponse, 400: errorSchema },
    },
    handler: async (request) => readTrends(await deps.warehouse(), request.query.from, request.query.to),
  });

  app.get(`${DASHBOARD_PATH}/api/operations`, {
    config: { redis: true },
    schema: {
      tags: ['dashboard'],
      summary: "The landing sensor's last look and the newest backfills with each date's status",
      response: { 200: operationsResponse, 503: errorSchema },
    },
    handler: async () => {
      const { config, queues } = deps;
      const [sensor, backfills] = await Promise.all([readSensorStatus(queues), listBackfills(queues, RECENT_BACKFILLS, 0)]);
      return {
        sensor: {
          enabled: config.SENSOR_INTERVAL !== undefined,
          intervalMs: config.SENSOR_INTERVAL ?? null,
          quietMs: config.SENSOR_QUIET,
          checkedAt: epochIso(sensor.checkedAt),
          files: sensor.files ?? null,
          waiting: sensor.waiting ?? null,
          lastRunId: sensor.lastRunId ?? null,
          lastRunAt: epochIso(sensor.lastRunAt),
        },
        backfills: { total: backfills.total, list: backfills.backfills.map(({ spec, ...b }) => ({ ...spec, ...b })) },
      };
    },
  });

  app.get(`${DASHBOARD_PATH}/api/runs`, {
    schema: {
      tags: ['dashboard'],
      summary: 'Recent finished runs with their data quality',
      response: { 200: z.object({ runs: z.array(z.record(z.string(), z.unknown())) }) },
    },
    handler: async () => {
      const { runs } = await (await deps.warehouse()).listRuns(RECENT_RUNS, 0);
      return {
        runs: runs.map((r) => ({
          runId: r.runId,
          trigger: r.trigger,
          status: r.status,
          startedAt: r.startedAt,
          finishedAt: r.finishedAt,
          streams: redactSources(r.sources).streams,
          files: { total: r.files.total, loaded: r.files.loaded, rejected: r.files.rejected },
          rows: r.rows,
          checks: r.checks ?? [],
          error: r.error,
        })),
      };
    },
  });
};
