import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig, type Config } from '@musicflow/config';
import { s3RequestCounts } from '@musicflow/storage';
import { createServiceContext, type ServiceContext } from './context.ts';
import { redisDurabilityProblems } from './redis.ts';

export interface Service {
  /** Settles when the service can take work at full speed (its worker threads are up). */
  ready?: Promise<void>;
  /** Stops taking work and releases what the service holds. */
  close(): Promise<void>;
}

/**
 * Entry point of a service process: validated config (a bad value exits 1
 * naming the variable; `config` when the caller has it already), one
 * context, and an orderly stop on SIGTERM/SIGINT: services first (they finish
 * or hand back their jobs), then connections. A service that cannot start
 * exits 1 with its message.
 */
export async function serve(name: string, start: (ctx: ServiceContext) => Promise<Service[]>, config?: Config): Promise<void> {
  if (!config) {
    try {
      config = loadConfig();
    } catch (err) {
      console.error((err as Error).message);
      process.exit(1);
    }
  }
  const ctx = createServiceContext(config, name);
  // BullMQ renews job locks from this thread's timers: how long it was ever blocked says whether renewal was at risk.
  const loopDelay = monitorEventLoopDelay({ resolution: 20 });
  loopDelay.enable();
  let services: Service[];
  try {
    services = await start(ctx);
    await Promise.all(services.flatMap((s) => (s.ready ? [s.ready] : [])));
  } catch (err) {
    // A service that cannot start stops the whole process: a supervisor must not see a healthy half of it.
    const message = (err as Error).message;
    ctx.logger.fatal({ err: message }, 'could not start');
    console.error(`${name} could not start: ${message}`);
    await ctx.close().catch(() => undefined);
    process.exit(1);
  }
  ctx.logger.info({ services: services.length }, 'services started');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    ctx.logger.info({ signal }, 'shutting down');
    await Promise.all(services.map((s) => s.close()));
    await ctx.close();
    loopDelay.disable();
    ctx.logger.info(
      {
        eventLoopDelayMaxMs: Math.round(loopDelay.max / 1e6),
        eventLoopDelayP99Ms: Math.round(loopDelay.percentile(99) / 1e6),
        // What this process cost the object store (the bench sums its workers').
        s3Requests: s3RequestCounts(),
      },
      'stopped',
    );
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  // Not awaited: a stop signal is handled from the moment the services run.
  redisDurabilityProblems(config).then(
    (problems) => problems.forEach((problem) => ctx.logger.warn({ problem }, 'redis settings put queued work at risk')),
    () => undefined,
  );
}
