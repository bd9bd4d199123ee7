import type { Service, ServiceContext } from '@musicflow/flow';
import { buildApp } from './app.ts';
import { startScheduler } from './schedule.ts';

export { buildApp, DOCS_PATH } from './app.ts';
export { BULL_BOARD_PATH } from './routes/admin.ts';
export { startScheduler, ensureDailySchedule, listSchedules, updateSchedule, createTriggerProcessor } from './schedule.ts';
export { tokensMatch, presentedToken } from './auth.ts';

export interface ApiService extends Service {
  /** Where the API listens, e.g. http://127.0.0.1:3000. */
  url: string;
}

/**
 * The API service: the daily schedule and its trigger worker (shared with a
 * `scheduler` service in the same process), then the HTTP server on
 * API_HOST:API_PORT. close() stops accepting connections, lets requests in
 * flight finish, then stops the scheduler.
 */
export async function startApi(ctx: ServiceContext): Promise<ApiService> {
  const scheduler = await startScheduler(ctx);
  let app;
  try {
    app = await buildApp(ctx);
    await app.listen({ host: ctx.config.API_HOST, port: ctx.config.API_PORT });
  } catch (err) {
    await app?.close();
    await scheduler.close();
    throw err;
  }
  const address = app.server.address();
  const url = typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
  ctx.logger.info({ url, docs: `${url}/docs`, bullBoard: `${url}/admin/queues`, auth: ctx.config.API_TOKEN ? 'token' : 'open' }, 'api listening');
  let closing: Promise<void> | undefined;
  return {
    url,
    close() {
      closing ??= (async () => {
        await app.close();
        await scheduler.close();
      })();
      return closing;
    },
  };
}
