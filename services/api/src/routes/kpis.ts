import type { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiDeps } from '../deps.ts';
import { errorSchema, genreResponse, genreRow, hourlyResponse, hourlyRow, kpiQuery } from '../schemas.ts';

/** A warehouse row as the API shows it: updated_at in ISO 8601 UTC, the internal snapshot_seq left out. */
function present<T extends z.ZodType>(schema: T, row: Record<string, unknown>): z.output<T> {
  const { snapshot_seq: _seq, updated_at, ...rest } = row;
  return schema.parse({ ...rest, updated_at: updated_at instanceof Date ? updated_at.toISOString() : String(updated_at) });
}

/** KPI rows of one listen_date (UTC) from the warehouse; an empty list when the date has none. */
export const kpiRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/kpis/genre', {
    schema: { tags: ['kpis'], summary: 'analytics.genre_kpis of one listen_date', querystring: kpiQuery, response: { 200: genreResponse, 400: errorSchema } },
    handler: async (request) => {
      const rows = await (await deps.warehouse()).kpis('genre', request.query.date);
      return { date: request.query.date, rows: rows.map((r) => present(genreRow, r)) };
    },
  });

  app.get('/kpis/hourly', {
    schema: { tags: ['kpis'], summary: 'analytics.hourly_kpis of one listen_date', querystring: kpiQuery, response: { 200: hourlyResponse, 400: errorSchema } },
    handler: async (request) => {
      const rows = await (await deps.warehouse()).kpis('hourly', request.query.date);
      return { date: request.query.date, rows: rows.map((r) => present(hourlyRow, r)) };
    },
  });
};
