import { unsafeBindProblem } from '@musicflow/config';
import { checkWarehouseAtStart, type Service, type ServiceContext } from '@musicflow/flow';
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
 * API_HOST:API_PORT (loopback unless API_TOKEN or API_ALLOW_UNAUTHENTICATED). close() stops accepting connections, lets requests in
 * flight finish, then stops the scheduler.
 */
export async function startApi(ctx: ServiceContext): Promise<ApiService> {
  const unsafe = unsafeBindProblem(ctx.config);
  if (unsafe) throw new Error(unsafe);
  await checkWarehouseAtStart(ctx);
  const scheduler = await startScheduler(ctx);
  let app;
  try {
    app = await buildApp(ctx);
    await app.listen({ host: ctx.config.API_HOST, port: ctx.config.API_PORT }).catch((err: NodeJS.ErrnoException) => {
      throw listenError(ctx.config.API_HOST, ctx.config.API_PORT, err);
    });
  } catch (err) {
    await app?.close();
    await scheduler.close();
    throw err;
  }
  const address = app.server.address();
  const url =
    typeof address === 'object' && address ? `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}` : String(address);
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

/** A listen failure that names the setting to change. */
function listenError(host: string, port: number, err: NodeJS.ErrnoException): Error {
  if (err.code === 'EADDRINUSE')
    return new Error(`API_PORT ${port} is already in use on ${host}: stop the process holding it, or set API_PORT to a free port.`);
  if (err.code === 'EACCES') return new Error(`API_PORT ${port} on ${host} needs privileges this process lacks: set API_PORT above 1023.`);
  if (err.code === 'EADDRNOTAVAIL')
    return new Error(`API_HOST ${host} is not an address of this machine: set API_HOST (127.0.0.1, 0.0.0.0 or one of its addresses).`);
  return new Error(`the API cannot listen on ${host}:${port} (${err.message}): check API_HOST and API_PORT.`);
}
