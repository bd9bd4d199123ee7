import { loadConfig, type Config } from '@musicflow/config';
import { createServiceContext, type ServiceContext } from './context.ts';

export interface Service {
  /** Settles when the service can take work at full speed (its worker threads are up). */
  ready?: Promise<void>;
  /** Stops taking work and releases what the service holds. */
  close(): Promise<void>;
}

/**
 * Entry point of a service process: validated config (a bad value exits 1
 * naming the variable), one context, and an orderly stop on SIGTERM/SIGINT:
 * services first (they finish or hand back their jobs), then connections.
 */
export async function serve(name: string, start: (ctx: ServiceContext) => Promise<Service[]>): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    console.error((err as Error).message);
    process.exit(1);
  }
  const ctx = createServiceContext(config, name);
  const services = await start(ctx);
  await Promise.all(services.map((s) => s.ready));
  ctx.logger.info({ services: services.length }, 'started');
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    ctx.logger.info({ signal }, 'shutting down');
    await Promise.all(services.map((s) => s.close()));
    await ctx.close();
    ctx.logger.info('stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}
