import { postgresTarget, type Config } from '@musicflow/config';
import type { RunReport } from '@musicflow/contracts';
import { checkRedis, explainRedisError } from '@musicflow/flow';
import { explainConnectionError, Warehouse } from '@musicflow/warehouse';

export const EXIT = { succeeded: 0, partial: 2, failed: 1, cancelled: 3 } as const;
export const exitCodeOf = (report: RunReport | undefined) => (report ? (EXIT[report.status as keyof typeof EXIT] ?? 1) : 1);

/**
 * Checks Redis and the warehouse before anything else, so a missing service or
 * a missing privilege is a short hint (what happened, where, the fix) rather than a stack trace.
 */
export async function checkServices(config: Config): Promise<string[]> {
  const problems: string[] = [];
  await checkRedis(config).catch((err: Error) => {
    const problem = explainRedisError(config, err);
    // A server that answered (TLS, credentials) needs a setting changed, not starting.
    if (!problem.startsWith('Redis is not reachable')) return problems.push(problem);
    const hint = config.REDIS_CLUSTER_NODES
      ? `  Check that the cluster's nodes are up and REDIS_CLUSTER_NODES lists some of them.`
      : `  Start it with: redis-server --daemonize yes   (or: docker compose up -d redis), or set REDIS_URL.`;
    return problems.push(`${problem}.\n${hint}`);
  });
  // Connecting also creates what is missing and allowed, so a role that can do neither is named here, before any service starts.
  const warehouse = postgresTarget(config, 'WAREHOUSE_URL');
  await Warehouse.connect(warehouse, config.WAREHOUSE_LOAD)
    .then((connected) => connected.close())
    .catch((err: unknown) => problems.push(explainConnectionError(warehouse, err).message));
  return problems;
}
