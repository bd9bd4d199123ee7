import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { recomputeRangeSchema } from '@musicflow/contracts';
import { startRecompute } from '@musicflow/flow';
import type { ApiDeps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { errorSchema } from '../schemas.ts';

const recomputeResponse = z.object({ runId: z.string(), status: z.literal('queued'), url: z.string() });

/** POST /recompute: a run that recomputes and upserts the KPIs of the lake's listen dates in a range. */
export const recomputeRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.post('/recompute', {
    config: { access: 'write', redis: true },
    schema: {
      tags: ['runs'],
      summary: 'Recompute the KPIs of every listen date from `from` to `to` (both included; no `to`: every date from `from` on) from the lake alone',
      description: 'A run with trigger "recompute" (GET /runs/:id, analytics.etl_runs): one KPI date job per listen date in the lake, upserted like any run. `reEnrich` is not available yet (501).',
      body: recomputeRangeSchema,
      response: { 202: recomputeResponse, 400: errorSchema, 501: errorSchema },
    },
    handler: async (request, reply) => {
      if (request.body.reEnrich) throw new HttpError(501, 'reEnrich is not available yet: recompute reads the lake parts as they were enriched');
      const { runId } = await startRecompute(deps.config, deps.queues, request.body);
      request.log.info({ runId, from: request.body.from, to: request.body.to }, 'recompute enqueued');
      const url = `/runs/${runId}`;
      return reply.code(202).header('location', url).send({ runId, status: 'queued' as const, url });
    },
  });
};
