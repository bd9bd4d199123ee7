import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { isStale, readDeadlines } from '@musicflow/flow';
import { readFreshness } from '@musicflow/warehouse';
import type { ApiDeps } from '../deps.ts';

export const freshnessResponse = z.object({
  newestListenDate: z.string().nullable().describe('newest listen_date with KPI rows'),
  newestListenDateAgeSeconds: z.number().nullable().describe('seconds since the end of that date (UTC)'),
  lastSuccessfulRunAt: z.string().nullable().describe('end of the last run that succeeded or was partial'),
  lastSuccessfulRunAgeSeconds: z.number().nullable(),
  maxAgeSeconds: z.number().describe('FRESHNESS_MAX_AGE'),
  stale: z.boolean().describe('the last successful run is older than FRESHNESS_MAX_AGE'),
  deadlines: z
    .array(
      z.object({
        level: z.enum(['warn', 'error']),
        time: z.string().describe('DEADLINE_WARN or DEADLINE, HH:MM UTC of the next day'),
        listenDate: z.string().describe('the newest listen date due at this level'),
        dueAt: z.string(),
        loadedAt: z.string().nullable(),
        state: z.enum(['met', 'met-late', 'missed']),
      }),
    )
    .describe('one per configured level; empty when no DEADLINE is set'),
});

/** Freshness as /freshness and the dashboard show it. */
export async function freshnessView(deps: ApiDeps): Promise<z.infer<typeof freshnessResponse>> {
  const warehouse = await deps.warehouse();
  const [freshness, deadlines] = await Promise.all([readFreshness(warehouse), readDeadlines(deps.config, warehouse)]);
  const maxAge = deps.config.FRESHNESS_MAX_AGE;
  return { ...freshness, maxAgeSeconds: maxAge / 1000, stale: isStale(freshness, maxAge), deadlines };
}

/** GET /freshness: are yesterday's KPIs in? */
export const freshnessRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/freshness', {
    schema: {
      tags: ['operations'],
      summary: 'Newest loaded listen date, last successful run, their ages, and whether that is stale',
      response: { 200: freshnessResponse },
    },
    handler: () => freshnessView(deps),
  });
};
