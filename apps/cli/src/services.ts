import type { Service, ServiceContext } from '@musicflow/flow';

/**
 * Each service's module is imported only when the service starts: a stage
 * worker then never loads Fastify and Bull Board (measured: 22 MB of RSS per
 * worker process).
 */
const STARTERS = {
  extractor: async (ctx) => (await import('@musicflow/service-extractor')).startExtractor(ctx),
  validator: async (ctx) => (await import('@musicflow/service-validator')).startValidator(ctx),
  transformer: async (ctx) => (await import('@musicflow/service-transformer')).startTransformer(ctx),
  kpi: async (ctx) => (await import('@musicflow/service-kpi')).startKpi(ctx),
  loader: async (ctx) => (await import('@musicflow/service-loader')).startLoader(ctx),
  // HTTP API + Bull Board; it also keeps the daily schedule and runs its trigger worker.
  api: async (ctx) => (await import('@musicflow/service-api')).startApi(ctx),
  // The daily schedule and its trigger worker without HTTP; shares one instance with `api` in one process.
  scheduler: async (ctx) => (await import('@musicflow/service-api')).startScheduler(ctx),
} satisfies Record<string, (ctx: ServiceContext) => Promise<Service>>;

export type ServiceName = keyof typeof STARTERS;
export const SERVICE_NAMES = Object.keys(STARTERS) as ServiceName[];

/**
 * Runs the named services (all by default) in this process, sharing one
 * context. All or none: when one cannot start, the others are closed again
 * and the first error is thrown, so no half-started stack keeps running.
 */
export async function startServices(ctx: ServiceContext, names: readonly ServiceName[] = SERVICE_NAMES): Promise<Service[]> {
  const started = await Promise.allSettled(
    names.map(async (name) => {
      const service = await STARTERS[name](ctx);
      await service.ready;
      return service;
    }),
  );
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (!failed) return started.map((s) => (s as PromiseFulfilledResult<Service>).value);
  await Promise.all(started.flatMap((s) => (s.status === 'fulfilled' ? [s.value.close().catch(() => undefined)] : [])));
  throw failed.reason;
}

/** The five stage workers: what the demo and the tests run in-process, without HTTP or schedule. */
export const PIPELINE_WORKERS = ['extractor', 'validator', 'transformer', 'kpi', 'loader'] as const satisfies readonly ServiceName[];
