import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { recomputeRangeSchema } from '@musicflow/contracts';
import { startRecompute } from '@musicflow/flow';
import type { ApiDeps } from '../deps.ts';
import { errorSchema } from '../schemas.ts';

const recomputeResponse = z.object({ runId: z.string(), status: z.literal('queued'), url: z.string() });

/** POST /recompute: a run that recomputes and upserts the KPIs of the lake's listen dates in a range. */
export const recomputeRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.post('/recompute', {
    config: { access: 'write', redis: true },
    schema: {
      tags: ['runs'],
      summary: 'Recompute the KPIs of every listen date from `from` to `to` (both included; no `to`: every date from `from` on) from the lake alone',
      description:
        'A run with trigger "recompute" (GET /runs/:id, analytics.etl_runs): one KPI date job per listen date in the lake, upserted like any run. With `reEnrich` the dates\' lake parts are first joined again with the current users and songs (USERS_URL, SONGS_URL) and rewritten, so plays of tracks catalogued since count in their genres.',
      body: recomputeRangeSchema,
      response: { 202: recomputeResponse, 400: errorSchema },
    },
    handler: async (request, reply) => {
      const { runId } = await startRecompute(deps.config, deps.queues, request.body);
      request.log.info({ runId, from: request.body.from, to: request.body.to, reEnrich: request.body.reEnrich }, 'recompute enqueued');
      const url = `/runs/${runId}`;
      return reply
        .code(202)
        .header('location', url)
        .send({ runId, status: 'queued' as const, url });
    },
  });
};
