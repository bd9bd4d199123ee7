import { redactUrl, type Config } from '@musicflow/config';
import type { RunReport } from '@musicflow/contracts';
import { checkRedis } from '@musicflow/flow';
import { ensureDatabase } from '@musicflow/warehouse';

export const EXIT = { succeeded: 0, partial: 2, failed: 1 } as const;
export const exitCodeOf = (report: RunReport | undefined) => (report ? (EXIT[report.status as keyof typeof EXIT] ?? 1) : 1);

/**
 * Checks Redis and PostgreSQL before anything else, so a missing service is a
 * one-line hint (which, where, how to start it) rather than a stack trace.
 */
export async function checkServices(config: Config): Promise<string[]> {
  const problems: string[] = [];
  await checkRedis(config.REDIS_URL).catch((err: Error) =>
    problems.push(
      `Redis is not reachable at ${redactUrl(config.REDIS_URL)} (${err.message}).\n` +
        `  Start it with: redis-server --daemonize yes   (or: docker compose up -d redis), or set REDIS_URL.`,
    ),
  );
  await ensureDatabase(config.WAREHOUSE_URL).catch((err: Error) =>
    problems.push(
      `PostgreSQL is not reachable at ${redactUrl(config.WAREHOUSE_URL)} (${err.message || (err as { code?: string }).code}).\n` +
        `  Start it with: pg_ctlcluster 15 main start   (or: docker compose up -d postgres), or set WAREHOUSE_URL.`,
    ),
  );
  return problems;
}
