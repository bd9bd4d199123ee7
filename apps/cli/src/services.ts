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

/** Runs the named services (all by default) in this process, sharing one context. */
export async function startServices(ctx: ServiceContext, names: readonly ServiceName[] = SERVICE_NAMES): Promise<Service[]> {
  const services = await Promise.all(names.map((name) => STARTERS[name](ctx)));
  await Promise.all(services.map((s) => s.ready));
  return services;
}

/** The five stage workers: what the demo and the tests run in-process, without HTTP or schedule. */
export const PIPELINE_WORKERS = ['extractor', 'validator', 'transformer', 'kpi', 'loader'] as const satisfies readonly ServiceName[];
