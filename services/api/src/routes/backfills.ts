import { z } from 'zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { backfillSpecSchema, runStatusSchema } from '@musicflow/contracts';
import { cancelBackfill, listBackfills, planBackfill, readBackfill, resumeBackfill, startBackfill } from '@musicflow/flow';
import type { ApiDeps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { errorSchema, listRunsQuery, runIdParam } from '../schemas.ts';

const plannedDate = z.object({
  listenDate: z.string(),
  parts: z.number().int(),
  events: z.number().int().describe('rows of the lake parts, duplicates included: what a recompute reads'),
  loadedAt: z.string().optional(),
  lakeWrittenAt: z.string().optional(),
  state: z.enum(['missing', 'stale', 'current']),
  selected: z.boolean().describe('whether a backfill run over this plan recomputes the date'),
});
const planResponse = z.object({ spec: backfillSpecSchema, dates: z.array(plannedDate), selected: z.array(z.string()) });

const backfillView = z.object({
  backfillId: z.string(),
  state: z.enum(['queued', 'running', 'cancelling', 'cancelled', 'succeeded', 'partial', 'failed']),
  spec: backfillSpecSchema,
  createdAt: z.string(),
  resumeOf: z.string().optional(),
  dates: z.array(z.object({ listenDate: z.string(), runId: z.string().optional(), status: z.union([runStatusSchema, z.enum(['pending', 'unknown'])]) })),
  error: z.string().optional(),
});
const startedBackfill = z.object({ backfillId: z.string(), dates: z.array(z.string()), url: z.string() });
const backfillParams = z.strictObject({ id: runIdParam });

/**
 * Backfills: a preview of which lake dates a range would recompute, then a
 * run over exactly those, a few dates at once, listed with their state,
 * cancelled and resumed.
 */
export const backfillRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { config, queues } = deps;

  app.get('/backfills/plan', {
    schema: {
      tags: ['backfills'],
      summary: "The lake's listen dates from `from` to `to` with their parts and events, the warehouse's state of each, and which a backfill takes",
      description:
        '`only`: `missing` takes dates without KPI rows; `stale` (default) also dates with a lake part written after they were last loaded; `all` every lake date of the range.',
      querystring: backfillSpecSchema,
      response: { 200: planResponse, 400: errorSchema },
    },
    handler: async (request) => planBackfill(deps.store, await deps.warehouse(), config.LAKE_URL, request.query),
  });

  app.post('/backfills', {
    config: { access: 'write', redis: true },
    schema: {
      tags: ['backfills'],
      summary: 'Plan a backfill and run it: each selected date is a recompute run (trigger "backfill"), `concurrency` at once',
      body: backfillSpecSchema,
      response: { 202: startedBackfill, 400: errorSchema, 409: errorSchema },
    },
    handler: async (request, reply) => {
      const plan = await planBackfill(deps.store, await deps.warehouse(), config.LAKE_URL, request.body);
      if (!plan.selected.length)
        throw new HttpError(409, `no lake date from ${request.body.from} to ${request.body.to} is ${request.body.only}: nothing to backfill`);
      const { backfillId } = await startBackfill(config, queues, request.body, plan.selected);
      request.log.info({ backfillId, dates: plan.selected.length, only: request.body.only }, 'backfill enqueued');
      const url = `/backfills/${backfillId}`;
      return reply.code(202).header('location', url).send({ backfillId, dates: plan.selected, url });
    },
  });

  app.get('/backfills', {
    config: { redis: true },
    schema: {
      tags: ['backfills'],
      summary: 'Backfills, newest first, with their state',
      querystring: listRunsQuery,
      response: { 200: z.object({ total: z.number().int(), backfills: z.array(backfillView) }), 400: errorSchema },
    },
    handler: async (request) => listBackfills(queues, request.query.limit, request.query.offset),
  });

  app.get('/backfills/:id', {
    config: { redis: true },
    schema: {
      tags: ['backfills'],
      summary: 'One backfill: its state, and each date with its run and that run’s status',
      params: backfillParams,
      response: { 200: backfillView, 400: errorSchema, 404: errorSchema },
    },
    handler: async (request) => {
      const view = await readBackfill(queues, request.params.id);
      if (!view) throw new HttpError(404, `backfill ${request.params.id} not found`);
      return view;
    },
  });

  app.delete('/backfills/:id', {
    config: { access: 'write', redis: true },
    schema: {
      tags: ['backfills'],
      summary: 'Cancel a backfill: no further date starts, and the runs of its dates in flight are cancelled',
      params: backfillParams,
      response: { 202: z.object({ backfillId: z.string(), url: z.string() }), 400: errorSchema, 404: errorSchema, 409: errorSchema },
    },
    handler: async (request, reply) => {
      const { id } = request.params;
      const outcome = await cancelBackfill(queues, id);
      if (outcome === 'unknown') throw new HttpError(404, `backfill ${id} not found`);
      if (outcome === 'finished') throw new HttpError(409, `backfill ${id} has finished: only a queued or running backfill can be cancelled`);
      request.log.info({ backfillId: id }, 'backfill cancelled');
      return reply.code(202).send({ backfillId: id, url: `/backfills/${id}` });
    },
  });

  app.post('/backfills/:id/resume', {
    config: { access: 'write', redis: true },
    schema: {
      tags: ['backfills'],
      summary: 'A new backfill over the dates a cancelled, partial or failed one did not bring to succeeded',
      params: backfillParams,
      response: { 202: startedBackfill, 400: errorSchema, 404: errorSchema, 409: errorSchema },
    },
    handler: async (request, reply) => {
      const resumed = await resumeBackfill(config, queues, request.params.id);
      if (typeof resumed === 'string') throw new HttpError(resumed.endsWith('not found') ? 404 : 409, resumed);
      request.log.info({ backfillId: resumed.backfillId, resumeOf: request.params.id, dates: resumed.dates.length }, 'backfill resumed');
      const url = `/backfills/${resumed.backfillId}`;
      return reply
        .code(202)
        .header('location', url)
        .send({ ...resumed, url });
    },
  });
};
