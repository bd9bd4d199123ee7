import { hostname } from 'node:os';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { redactSecrets } from '@musicflow/config';
import { joinUrl } from '@musicflow/storage';
import type { ApiDeps } from '../deps.ts';
import { healthResponse } from '../schemas.ts';

const TIMEOUT_MS = 3000;

async function probe(check: () => Promise<unknown>): Promise<{ status: 'up' | 'down'; ms: number; error?: string }> {
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([check(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${TIMEOUT_MS} ms`)), TIMEOUT_MS)))]);
    return { status: 'up', ms: Date.now() - started };
  } catch (err) {
    const e = err as Error & { code?: string; errors?: Error[] };
    const message = e.message || e.code || e.errors?.map((x) => x.message).join(', ') || e.name || String(err);
    return { status: 'down', ms: Date.now() - started, error: redactSecrets(message) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * GET /health checks Redis (PING on the API's connection), the warehouse
 * (SELECT 1) and the object store (write, then delete, a small marker object
 * under LAKE_URL/_health/: the lake is where every run writes). 200 when all
 * answer, else 503 naming what is down. Always open, even with API_TOKEN.
 */
export const healthRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  const marker = joinUrl(deps.config.LAKE_URL, '_health', `${hostname()}-${process.pid}`);
  app.get('/health', {
    config: { access: 'public' },
    logLevel: 'warn',
    schema: { tags: ['operations'], summary: 'Redis, warehouse and object store reachability', response: { 200: healthResponse, 503: healthResponse } },
    handler: async (_request, reply) => {
      const [redis, warehouse, objectStore] = await Promise.all([
        probe(async () => {
          // Right after start-up or a reconnect, give the connection a moment before calling it down.
          await deps.redisReady(1500);
          return deps.connection.ping();
        }),
        probe(async () => (await deps.warehouse()).ping()),
        probe(async () => {
          await deps.store.write(marker, new Date().toISOString());
          await deps.store.delete(marker);
        }),
      ]);
      const checks = { redis, warehouse, objectStore };
      const down = Object.entries(checks).filter(([, c]) => c.status === 'down');
      if (!down.length) return { status: 'ok' as const, checks };
      const message = `down: ${down.map(([name, c]) => `${name} (${c.error})`).join(', ')}`;
      reply.log.warn({ down: down.map(([name]) => name) }, 'health check failed');
      return reply.code(503).send({ status: 'down', message, checks });
    },
  });
};
