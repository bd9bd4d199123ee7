import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import { Queue } from 'bullmq';
import { createJsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { SCHEDULER_QUEUE } from '@musicflow/contracts';
import { explainRedisError, PipelineQueues, readSensorStatus, redisConnection, type ServiceContext } from '@musicflow/flow';
import { registerAuth } from './auth.ts';
import type { ApiDeps } from './deps.ts';
import { HttpError, registerErrorHandler } from './errors.ts';
import { ApiMetrics, withDeadline } from './metrics.ts';
import { allowedHostNames, registerOriginGuard } from './origin.ts';
import { redisReady } from './redis-ready.ts';
import { BULL_BOARD_PATH, registerBullBoard } from './routes/admin.ts';
import { DASHBOARD_PATH, dashboardRoutes } from './dashboard/routes.ts';
import { freshnessRoutes } from './routes/freshness.ts';
import { healthRoutes } from './routes/health.ts';
import { kpiRoutes } from './routes/kpis.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { recomputeRoutes } from './routes/recompute.ts';
import { backfillRoutes } from './routes/backfills.ts';
import { runRoutes } from './routes/runs.ts';
import { scheduleRoutes } from './routes/schedules.ts';

export const DOCS_PATH = '/docs';

/** Refusals have their own log line, written where they are decided (none while a client is held back). */
const REFUSALS = new Set([401, 403, 429]);

/** One log line per request, on its answer (Fastify writes two), and none for a refusal: a flood of them must not flood the log. */
class OneLinePerRequest extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if (!error && REFUSALS.has(reply.statusCode)) return;
    const line = { req: request, res: reply, responseTime: reply.elapsedTime };
    if (error) reply.log.error({ ...line, err: error }, 'request errored');
    else reply.log.info(line, 'request completed');
  }
}

/**
 * The HTTP API as a Fastify instance, ready for `inject` or `listen` (this does
 * not listen). It owns a fail-fast Redis connection (requests get an error
 * instead of hanging while Redis is away) with the queues on it, and job-event
 * listeners for metrics; `app.close()` releases them. Store, warehouse, config
 * and logger come from the service context.
 */
export async function buildApp(ctx: ServiceContext): Promise<FastifyInstance> {
  const { config } = ctx;
  const logger = ctx.logger.child({ component: 'api' });
  const connection = redisConnection(config, 'producer');
  const redis: { lastError: unknown } = { lastError: new Error('not connected yet') };
  connection.on('error', (err) => {
    redis.lastError = err;
    logger.debug({ err: err.message }, 'redis connection error');
  });
  /** Resolves when the connection is ready, rejects naming the last connection error after `ms`. */
  const ready = (ms = 1000) => redisReady(connection, ms, () => explainRedisError(config, redis.lastError));
  const queues = new PipelineQueues(connection, config.QUEUE_PREFIX);
  const schedulerQueue = new Queue(SCHEDULER_QUEUE, { connection, prefix: config.QUEUE_PREFIX });
  // Without listeners BullMQ prints every connection error; /health and the metrics report Redis instead.
  const onQueueError = (err: Error) => logger.debug({ err: err.message }, 'queue error');
  for (const queue of [...Object.values(queues.queues), schedulerQueue]) queue.on('error', onQueueError);
  queues.flows.on('error', onQueueError);
  const metrics = new ApiMetrics({
    redis: config,
    prefix: config.QUEUE_PREFIX,
    queues: [...Object.values(queues.queues), schedulerQueue],
    redisReady: () => ready(),
    warehouse: ctx.warehouse,
    logger,
    config,
    sensor: () => readSensorStatus(queues),
  });
  metrics.start();
  // Reconnects on its own when Redis is away; /health reports it meanwhile.
  await ready(3000).catch(() => undefined);
  const deps: ApiDeps = { config, logger, connection, redisReady: ready, queues, schedulerQueue, store: ctx.store, warehouse: ctx.warehouse, metrics };

  // Typed as Fastify's base logger, so the app's type does not carry pino's.
  const loggerInstance: FastifyBaseLogger = logger;
  const app = Fastify({
    loggerInstance,
    // Requests answer within seconds; a stuck client must not hold shutdown.
    requestTimeout: 30_000,
    forceCloseConnections: 'idle',
    bodyLimit: 64 * 1024,
    logController: new OneLinePerRequest(),
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandler(app);
  registerOriginGuard(app, allowedHostNames(config.API_HOST, config.API_ALLOWED_HOSTS));
  registerAuth(app, {
    token: config.API_TOKEN,
    failuresPerMinute: config.API_AUTH_FAILURES_PER_MINUTE,
    protectReads: config.API_PROTECT_READS,
    adminPrefix: BULL_BOARD_PATH,
    docsPrefix: DOCS_PATH,
    dashboardPrefix: DASHBOARD_PATH,
  });
  // BullMQ calls wait for Redis without a deadline: routes that need it answer 503 at once while it is away.
  app.addHook('preHandler', async (request) => {
    const url = request.routeOptions.url ?? '';
    if (request.routeOptions.config?.redis || url.startsWith(BULL_BOARD_PATH)) {
      await ready().catch((err: Error) => {
        throw new HttpError(503, err.message);
      });
    }
  });
  app.addHook('onClose', async () => {
    await metrics.close();
    await withDeadline(Promise.all([queues.close(), schedulerQueue.close()]), 3000);
    connection.disconnect();
  });

  await app.register(fastifySwagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'musicflow API',
        version: '0.1.0',
        description:
          'Trigger and watch ETL runs, read KPIs, health and metrics. With API_TOKEN set, write routes (and reads when ' +
          'API_PROTECT_READS=true) need "Authorization: Bearer <API_TOKEN>".',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: config.API_TOKEN ? [{ bearer: [] }] : [],
    },
    transform: createJsonSchemaTransform({ skipList: [] }),
  });
  await app.register(fastifySwaggerUi, { routePrefix: DOCS_PATH });

  await app.register(healthRoutes, { deps });
  await app.register(metricsRoutes, { deps });
  await app.register(runRoutes, { deps });
  await app.register(kpiRoutes, { deps });
  await app.register(scheduleRoutes, { deps });
  await app.register(freshnessRoutes, { deps });
  await app.register(dashboardRoutes, { deps });
  await app.register(recomputeRoutes, { deps });
  await app.register(backfillRoutes, { deps });
  await app.register(async (scope) => registerBullBoard(scope, deps));
  return app;
}
