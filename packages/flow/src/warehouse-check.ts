import { explainConnectionError, FATAL_PROBLEMS } from '@musicflow/warehouse';
import { postgresTarget } from '@musicflow/config';
import type { ServiceContext } from './context.ts';

/**
 * Connects a warehouse service at start-up. Wrong credentials, a missing
 * privilege or database, an unknown host: the service cannot work, so this
 * throws the explained error and the process stops. A warehouse that is only
 * away (refused, unreachable) is logged: the jobs' retry budget waits for it.
 */
export async function checkWarehouseAtStart(ctx: ServiceContext): Promise<void> {
  await ctx.warehouse().catch((err: unknown) => {
    const explained = explainConnectionError(postgresTarget(ctx.config, 'WAREHOUSE_URL'), err);
    if (FATAL_PROBLEMS.includes(explained.problem)) throw explained;
    ctx.logger.warn({ err: explained.message }, 'warehouse not reachable at start-up: jobs will retry within RETRY_BUDGET_MS');
  });
}
