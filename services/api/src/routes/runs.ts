import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { isAllowedSource, redactSecrets, type Config } from '@musicflow/config';
import type { Sources } from '@musicflow/contracts';
import { cancelRun, CredentialedSourceError, restoreRecordedSources, retryRun, RetryRefusedError, startRun } from '@musicflow/flow';
import type { ApiDeps } from '../deps.ts';
import { HttpError } from '../errors.ts';
import { findRun, listRuns, redactSources } from '../runs.ts';
import {
  cancelledRunResponse,
  errorSchema,
  listRunsQuery,
  listRunsResponse,
  retryRunBody,
  runDetail,
  runFilesQuery,
  runFilesResponse,
  runParams,
  startedRunResponse,
  startRunBody,
} from '../schemas.ts';

/**
 * POST /runs answers 202 Accepted with a new run id when it enqueued a run, and
 * 200 OK with the active run's id when a run over the same sources is already
 * queued or running (nothing new was accepted: the caller gets the run that will
 * do the work, and no second run races it). Both carry `Location: /runs/<id>`.
 */
export const runRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const { config } = deps;

  app.post('/runs', {
    config: { access: 'write', redis: true },
    schema: {
      tags: ['runs'],
      summary: 'Start a run (sources default to STREAMS_URL, USERS_URL, SONGS_URL)',
      body: startRunBody,
      response: {
        200: startedRunResponse.describe('A run over the same sources is already active: that run'),
        202: startedRunResponse.describe('Run enqueued'),
        400: errorSchema,
      },
    },
    handler: async (request, reply) => {
      assertAllowedSources(config, request.body ?? {}, 'body field');
      const started = await startRun(config, deps.queues, { trigger: 'api', sources: request.body ?? {} }).catch((err: unknown) => {
        throw err instanceof CredentialedSourceError ? new HttpError(400, err.message) : err;
      });
      const log = request.log.child({ runId: started.runId });
      const detail = started.created ? undefined : (await findRun(deps, started.runId))?.detail;
      if (started.created)
        log.info({ sources: request.body ? redactSources({ streams: '', users: '', songs: '', ...request.body }) : 'defaults' }, 'run enqueued');
      else log.info('run over the same sources already active: returning it');
      const url = `/runs/${started.runId}`;
      return reply
        .code(started.created ? 202 : 200)
        .header('location', url)
        .send({ runId: started.runId, created: started.created, status: detail?.status ?? 'queued', url });
    },
  });

  app.get('/runs', {
    config: { redis: true },
    schema: {
      tags: ['runs'],
      summary: 'Runs, newest first: queued and running ones, then finished ones',
      querystring: listRunsQuery,
      response: { 200: listRunsResponse, 400: errorSchema },
    },
    handler: async (request) => {
      const { limit, offset } = request.query;
      const { total, runs } = await listRuns(deps, limit, offset);
      return { total, limit, offset, runs };
    },
  });

  app.get('/runs/:id', {
    config: { redis: true },
    schema: {
      tags: ['runs'],
      summary:
        'Status, per-stage progress, report and error of one run; while it is active, its health (workers per stage, jobs whose worker is gone, stalled jobs)',
      params: runParams,
      response: { 200: runDetail, 400: errorSchema, 404: errorSchema },
    },
    handler: async (request) => {
      const found = await findRun(deps, request.params.id);
      if (!found) throw new HttpError(404, `run ${request.params.id} not found`);
      return found.detail;
    },
  });

  app.get('/runs/:id/files', {
    schema: {
      tags: ['runs'],
      summary: "One page of a finished run's stream files with their outcome (analytics.etl_run_files), by name",
      params: runParams,
      querystring: runFilesQuery,
      response: { 200: runFilesResponse, 400: errorSchema, 404: errorSchema },
    },
    handler: async (request) => {
      const { id } = request.params;
      const { status, limit, offset } = request.query;
      const warehouse = await deps.warehouse();
      const [{ total, files }, run] = await Promise.all([warehouse.listRunFiles(id, status, limit, offset), warehouse.getRun(id)]);
      if (!run) throw new HttpError(404, `run ${id} not found among finished runs`);
      return { runId: id, total, limit, offset, files };
    },
  });

  app.delete('/runs/:id', {
    config: { access: 'write', redis: true },
    schema: {
      tags: ['runs'],
      summary: 'Cancel a queued or running run',
      description:
        'Removes the jobs of the run that no worker holds; active jobs stop at their next step, or between blocks of their work (checked at most once a second). The loader then deletes the ' +
        "run's temporaries and records it `cancelled` in analytics.etl_runs, having loaded nothing. A run that already began " +
        'changing the lake or the warehouse can no longer be cancelled (409): it ends as it would have.',
      params: runParams,
      response: { 202: cancelledRunResponse, 400: errorSchema, 404: errorSchema, 409: errorSchema },
    },
    handler: async (request, reply) => {
      const { id } = request.params;
      const cancelled = await cancelRun(deps.queues, id);
      if (cancelled.outcome === 'unknown') {
        if (await (await deps.warehouse()).getRun(id)) throw new HttpError(409, `run ${id} has finished: only a queued or running run can be cancelled`);
        throw new HttpError(404, `run ${id} not found`);
      }
      if (cancelled.outcome === 'finished') throw new HttpError(409, `run ${id} has finished: only a queued or running run can be cancelled`);
      if (cancelled.outcome === 'committing')
        throw new HttpError(409, `run ${id} is already publishing to the lake or loading the warehouse: it can no longer be cancelled`);
      request.log.info({ runId: id, removedJobs: cancelled.removedJobs }, 'run cancelled');
      const url = `/runs/${id}`;
      return reply
        .code(202)
        .header('location', url)
        .send({ runId: id, status: 'cancelling' as const, removedJobs: cancelled.removedJobs, url });
    },
  });

  app.post('/runs/:id/retry', {
    config: { access: 'write', redis: true },
    schema: {
      tags: ['runs'],
      summary: 'Run a failed or partial run again: over the same sources, or over only what failed',
      description:
        'Starts a new run (trigger "retry"). By default over the sources of the given run: files that run ingested were ' +
        'archived and rejected files stayed in place, so the new run picks up what is left (e.g. fixed files, and any new ' +
        'ones). With `onlyFailed`, over only what failed: a run that failed while loading its dates recomputes just those ' +
        'dates from the lake (their parts were published before the load); otherwise a run over just its rejected files, ' +
        'in their current versions. Events already loaded are never counted twice. 202 with the new run, or 200 with a ' +
        'run over the same sources that is already active.',
      params: runParams,
      body: retryRunBody,
      response: { 200: startedRunResponse, 202: startedRunResponse, 400: errorSchema, 404: errorSchema, 409: errorSchema },
    },
    handler: async (request, reply) => {
      const { id } = request.params;
      const found = await findRun(deps, id);
      if (!found) throw new HttpError(404, `run ${id} not found`);
      const { status } = found.detail;
      if (status === 'queued' || status === 'running') throw new HttpError(409, `run ${id} is still ${status}: only a failed or partial run can be retried`);
      if (!found.sources) throw new HttpError(409, `run ${id} has no record of its sources`);
      let started: Awaited<ReturnType<typeof retryRun>>;
      try {
        const sources = restoreRecordedSources(config, found.sources, id);
        assertAllowedSources(config, sources, `run ${id} source`);
        const run = { runId: id, status, sources, dates: found.detail.report?.dates ?? [] };
        started = await retryRun(config, deps.queues, await deps.warehouse(), run, request.body?.onlyFailed ?? false);
      } catch (err) {
        throw err instanceof RetryRefusedError ? new HttpError(409, err.message) : err;
      }
      request.log.info({ runId: started.runId, retryOf: id, created: started.created, scope: started.scope }, 'retry requested');
      const url = `/runs/${started.runId}`;
      const current = started.created ? 'queued' : ((await findRun(deps, started.runId))?.detail.status ?? 'queued');
      return reply
        .code(started.created ? 202 : 200)
        .header('location', url)
        .send({ ...started, status: current, url, retryOf: id });
    },
  });
};

/**
 * Sources given per run must fall under SOURCE_URL_PREFIXES: whoever may call
 * the API must not make the workers read, and move files out of, any folder or
 * database they happen to reach.
 */
function assertAllowedSources(config: Config, sources: Partial<Sources>, place: string): void {
  for (const field of ['streams', 'users', 'songs'] as const) {
    const url = sources[field];
    if (url === undefined) continue;
    if (!isAllowedSource(url, config.SOURCE_URL_PREFIXES)) {
      throw new HttpError(
        400,
        `${place} ${field}: ${redactSecrets(url)} is not under SOURCE_URL_PREFIXES: use a configured location, or add its prefix to SOURCE_URL_PREFIXES`,
      );
    }
    // Whatever the prefixes cover, a run never reads what the pipeline itself wrote (and would move it).
    const inside = (['LAKE_URL', 'ARCHIVE_URL'] as const).find((name) => isAllowedSource(url, [config[name]]));
    if (inside) throw new HttpError(400, `${place} ${field}: ${redactSecrets(url)} is inside ${inside}, which is never a source`);
  }
}
