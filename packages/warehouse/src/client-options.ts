import pg from 'pg';
import { postgresClientConfig, type PostgresTarget } from '@musicflow/config';

/** A failover or a dead host must fail an attempt quickly, so the retry budget, not a hung socket, decides. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * How the warehouse's clients read values: DATE as plain `YYYY-MM-DD`, BIGINT
 * as number (KPI counts stay far below 2^53), TIMESTAMP as UTC. Set per client,
 * not through pg.types, which would change every other client in the process
 * (the RDS catalogue source's, a test's).
 */
const PARSERS: Record<number, (value: string) => unknown> = {
  1082: (v) => v,
  20: (v) => Number(v),
  1114: (v) => new Date(`${v.replace(' ', 'T')}Z`),
};

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => PARSERS[oid] ?? pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
};

/** A password file is read again for each new connection (postgresClientConfig), so a rotated password needs no restart. */
export const clientOptions = (target: PostgresTarget): pg.ClientConfig => ({
  ...postgresClientConfig(target),
  connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  keepAlive: true,
  types,
});

/**
 * A TIMESTAMP parameter in UTC. ISO 8601 with `Z`: a TIMESTAMP (without time
 * zone) column takes its date and time and ignores the zone, on PostgreSQL and
 * Redshift alike, whatever the process's time zone (node-postgres would send a
 * Date in local time unless a process-wide default is changed).
 */
export const utcTimestamp = (date: Date): string => date.toISOString();
