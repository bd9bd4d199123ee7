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
import { listListenDates } from '@musicflow/warehouse';
import type { ApiDeps } from '../deps.ts';
import { redactSources } from '../runs.ts';
import { BULL_BOARD_PATH } from '../routes/admin.ts';
import { freshnessResponse, freshnessView } from '../routes/freshness.ts';
import { errorSchema, kpiQuery } from '../schemas.ts';

export const DASHBOARD_PATH = '/dashboard';
const RECENT_RUNS = 15;

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
