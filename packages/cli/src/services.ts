import type { Service, ServiceContext } from '@musicflow/flow';
import { startExtractor } from '@musicflow/service-extractor';
import { startValidator } from '@musicflow/service-validator';
import { startTransformer } from '@musicflow/service-transformer';
import { startKpi } from '@musicflow/service-kpi';
import { startLoader } from '@musicflow/service-loader';
import { startApi, startScheduler } from '@musicflow/service-api';

const STARTERS = {
  extractor: startExtractor,
  validator: startValidator,
  transformer: startTransformer,
  kpi: startKpi,
  loader: startLoader,
  // HTTP API + Bull Board; it also keeps the daily schedule and runs its trigger worker.
  api: startApi,
  // The daily schedule and its trigger worker without HTTP; shares one instance with `api` in one process.
  scheduler: startScheduler,
} satisfies Record<string, (ctx: ServiceContext) => Service | Promise<Service>>;

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
