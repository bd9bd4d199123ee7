import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { isStale } from '@musicflow/flow';
import { readFreshness } from '@musicflow/warehouse';
import type { ApiDeps } from '../deps.ts';

export const freshnessResponse = z.object({
  newestListenDate: z.string().nullable().describe('newest listen_date with KPI rows'),
  newestListenDateAgeSeconds: z.number().nullable().describe('seconds since the end of that date (UTC)'),
  lastSuccessfulRunAt: z.string().nullable().describe('end of the last run that succeeded or was partial'),
  lastSuccessfulRunAgeSeconds: z.number().nullable(),
  maxAgeSeconds: z.number().describe('FRESHNESS_MAX_AGE'),
  stale: z.boolean().describe('the last successful run is older than FRESHNESS_MAX_AGE'),
});

/** Freshness as /freshness and the dashboard show it. */
export async function freshnessView(deps: ApiDeps): Promise<z.infer<typeof freshnessResponse>> {
  const freshness = await readFreshness(await deps.warehouse());
  const maxAge = deps.config.FRESHNESS_MAX_AGE;
  return { ...freshness, maxAgeSeconds: maxAge / 1000, stale: isStale(freshness, maxAge) };
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
