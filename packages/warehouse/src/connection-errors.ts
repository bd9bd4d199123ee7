import { redactUrl } from '@musicflow/config';

/** Why the warehouse could not be reached or prepared; each kind has its own fix. */
export type WarehouseProblem = 'refused' | 'unreachable' | 'unknown-host' | 'auth-failed' | 'permission-denied' | 'missing-database' | 'other';

/** A connection or set-up failure, with a message that says what happened and what to do. */
export class WarehouseConnectionError extends Error {
  override readonly name = 'WarehouseConnectionError';

  constructor(
    readonly problem: WarehouseProblem,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface PgError {
  code?: string;
  message?: string;
}

/** What a driver error means: Node socket codes and PostgreSQL SQLSTATEs. */
export function classifyConnectionError(err: unknown): WarehouseProblem {
  const { code, message = '' } = (err ?? {}) as PgError;
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ENOTFOUND') return 'unknown-host';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ETIMEDOUT' || code === 'EAI_AGAIN' || /timeout/i.test(message)) return 'unreachable';
  if (code === '28P01' || code === '28000') return 'auth-failed';
  if (code === '42501') return 'permission-denied';
  if (code === '3D000') return 'missing-database';
  return 'other';
}

const HEADLINE: Record<WarehouseProblem, string> = {
  refused: 'PostgreSQL refuses connections',
  unreachable: 'PostgreSQL is unreachable',
  'unknown-host': 'PostgreSQL host is unknown',
  'auth-failed': 'PostgreSQL authentication failed',
  'permission-denied': 'PostgreSQL permission denied',
  'missing-database': 'PostgreSQL database is missing',
  other: 'PostgreSQL failed',
};

const FIX: Record<WarehouseProblem, (t: Target) => string> = {
  refused: () =>
    'Nothing accepts connections there: start it (pg_ctlcluster 15 main start, or docker compose up -d postgres), or fix the host and port in WAREHOUSE_URL.',
  unreachable: () => 'The host does not answer: check the network path (VPN, security group, firewall) and the host and port in WAREHOUSE_URL.',
  'unknown-host': (t) => `The host name ${t.host} does not resolve: fix the host in WAREHOUSE_URL.`,
  'auth-failed': (t) =>
    `The server refused the credentials of user "${t.user}": fix the user and password in WAREHOUSE_URL (or the server's pg_hba.conf rule for this client).`,
  'permission-denied': (t) =>
    `User "${t.user}" lacks a privilege on database "${t.database}": an admin grants it (GRANT CONNECT, TEMP ON DATABASE ${t.database} TO ${t.user}; see docs/operating-warehouse.md).`,
  'missing-database': (t) =>
    `Database "${t.database}" does not exist and user "${t.user}" may not create it: an admin creates it (CREATE DATABASE ${t.database} OWNER ${t.user}), or point WAREHOUSE_URL at an existing database.`,
  other: () => 'See docs/operating-warehouse.md.',
};

interface Target {
  host: string;
  user: string;
  database: string;
}

function target(url: string): Target {
  const parsed = new URL(url);
  return {
    host: parsed.hostname,
    user: decodeURIComponent(parsed.username) || 'postgres',
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres',
  };
}

/** The error explained in one line: what happened at which (redacted) URL, and the fix. A `fix` replaces the generic one. */
export function explainConnectionError(url: string, err: unknown, fix?: string): WarehouseConnectionError {
  if (err instanceof WarehouseConnectionError) return err;
  const problem = classifyConnectionError(err);
  const { code, message } = (err ?? {}) as PgError;
  const what = message || code || String(err);
  return new WarehouseConnectionError(
    problem,
    `${HEADLINE[problem]} at ${redactUrl(url)} (${what}${code && !what.includes(code) ? `, ${code}` : ''}). ${fix ?? FIX[problem](target(url))}`,
    code,
  );
}

/** Problems that waiting does not fix: a service stops at start-up on these instead of retrying for its budget. */
export const FATAL_PROBLEMS: readonly WarehouseProblem[] = ['unknown-host', 'auth-failed', 'permission-denied', 'missing-database'];
