import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { ApiDeps } from '../deps.ts';

/** GET /metrics: Prometheus text format (see ../metrics.ts for what each family means). */
export const metricsRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/metrics', {
    logLevel: 'warn',
    schema: { tags: ['operations'], summary: 'Prometheus metrics: jobs per queue, job durations, rows, last successful run' },
    handler: async (_request, reply) => {
      const text = await deps.metrics.render();
      return reply.type(deps.metrics.contentType).send(text);
    },
  });
};
