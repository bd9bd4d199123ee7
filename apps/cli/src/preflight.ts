import type { Config } from '@musicflow/config';
import type { RunReport } from '@musicflow/contracts';
import { checkRedis, redisAddress } from '@musicflow/flow';
import { explainConnectionError, Warehouse } from '@musicflow/warehouse';

export const EXIT = { succeeded: 0, partial: 2, failed: 1 } as const;
export const exitCodeOf = (report: RunReport | undefined) => (report ? (EXIT[report.status as keyof typeof EXIT] ?? 1) : 1);

/**
 * Checks Redis and the warehouse before anything else, so a missing service or
 * a missing privilege is a short hint (what happened, where, the fix) rather than a stack trace.
 */
export async function checkServices(config: Config): Promise<string[]> {
  const problems: string[] = [];
  await checkRedis(config).catch((err: Error) =>
    problems.push(
      `Redis is not reachable at ${redisAddress(config)} (${err.message}).\n` +
        (config.REDIS_CLUSTER_NODES
          ? `  Check that the cluster's nodes are up and REDIS_CLUSTER_NODES lists some of them.`
          : `  Start it with: redis-server --daemonize yes   (or: docker compose up -d redis), or set REDIS_URL.`),
    ),
  );
  // Connecting also creates what is missing and allowed, so a role that can do neither is named here, before any service starts.
  await Warehouse.connect(config.WAREHOUSE_URL, config.WAREHOUSE_LOAD)
    .then((warehouse) => warehouse.close())
    .catch((err: unknown) => problems.push(explainConnectionError(config.WAREHOUSE_URL, err).message));
  return problems;
}
