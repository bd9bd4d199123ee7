import { certificateProblem, explainCertificate, redactUrl, type PostgresTarget } from '@musicflow/config';

/** Why the warehouse could not be reached or prepared; each kind has its own fix. */
export type WarehouseProblem =
  | 'refused'
  | 'unreachable'
  | 'unknown-host'
  | 'auth-failed'
  | 'tls-required'
  | 'tls-unsupported'
  | 'tls-certificate'
  | 'permission-denied'
  | 'missing-database'
  | 'other';

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
  if (certificateProblem(err)) return 'tls-certificate';
  if (/does not support SSL/i.test(message)) return 'tls-unsupported';
  // pg_hba.conf's `hostnossl ... reject` or a `hostssl`-only server (RDS rds.force_ssl): PostgreSQL 15 says "no encryption", older ones "SSL off".
  if (code === '28000' && /no encryption|SSL off/i.test(message)) return 'tls-required';
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
  'tls-required': 'PostgreSQL refuses unencrypted connections',
  'tls-unsupported': 'PostgreSQL does not accept TLS',
  'tls-certificate': "PostgreSQL's certificate is not trusted",
  'permission-denied': 'PostgreSQL permission denied',
  'missing-database': 'PostgreSQL database is missing',
  other: 'PostgreSQL failed',
};

const FIX: Record<WarehouseProblem, (t: Target, err: unknown) => string> = {
  refused: (t) =>
    `Nothing accepts connections there: start it (pg_ctlcluster 15 main start, or docker compose up -d postgres), or fix the host and port in ${t.setting}.`,
  unreachable: (t) => `The host does not answer: check the network path (VPN, security group, firewall) and the host and port in ${t.setting}.`,
  'unknown-host': (t) => `The host name ${t.host} does not resolve: fix the host in ${t.setting}.`,
  'auth-failed': (t) =>
    `The server refused the credentials of user "${t.user}": fix ${t.passwordFile ? `the user in ${t.setting} and the password in ${t.passwordFile}` : `the user and password in ${t.setting}`} (or the server's pg_hba.conf rule for this client).`,
  'tls-required': (t) =>
    `Connect over TLS: add sslmode=verify-full&sslrootcert=<CA bundle file> to ${t.setting} (RDS and Redshift: the provider's certificate bundle).`,
  'tls-unsupported': (t) =>
    `${t.setting} asks for TLS (sslmode) but the server has ssl off: turn ssl on at the server, or set sslmode=disable in ${t.setting} where plaintext is acceptable.`,
  'tls-certificate': (t, err) => `${capitalize(explainCertificate(certificateProblem(err)!, `sslrootcert in ${t.setting}`))}.`,
  'permission-denied': (t) =>
    `User "${t.user}" lacks a privilege on database "${t.database}": an admin grants it (GRANT CONNECT, TEMP ON DATABASE ${t.database} TO ${t.user}; see docs/operating-warehouse.md).`,
  'missing-database': (t) =>
    `Database "${t.database}" does not exist and user "${t.user}" may not create it: an admin creates it (CREATE DATABASE ${t.database} OWNER ${t.user}), or point ${t.setting} at an existing database.`,
  other: () => 'See docs/operating-warehouse.md.',
};

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

interface Target {
  setting: string;
  passwordFile?: string;
  host: string;
  user: string;
  database: string;
}

/** The warehouse's URL alone stands for WAREHOUSE_URL. */
export const warehouseTarget = (target: string | PostgresTarget): PostgresTarget =>
  typeof target === 'string' ? { url: target, setting: 'WAREHOUSE_URL' } : target;

function describe({ url, setting, passwordFile }: PostgresTarget): Target {
  const parsed = new URL(url);
  return {
    setting,
    passwordFile: passwordFile?.variable,
    host: parsed.hostname,
    user: decodeURIComponent(parsed.username) || 'postgres',
    database: decodeURIComponent(parsed.pathname.replace(/^\//, '')) || 'postgres',
  };
}

/** The error explained in one line: what happened at which (redacted) URL, and the fix. A `fix` replaces the generic one. */
export function explainConnectionError(to: string | PostgresTarget, err: unknown, fix?: string): WarehouseConnectionError {
  if (err instanceof WarehouseConnectionError) return err;
  const target = warehouseTarget(to);
  const problem = classifyConnectionError(err);
  const { code, message } = (err ?? {}) as PgError;
  const what = message || code || String(err);
  return new WarehouseConnectionError(
    problem,
    `${HEADLINE[problem]} at ${redactUrl(target.url)} (${what}${code && !what.includes(code) ? `, ${code}` : ''}). ${fix ?? FIX[problem](describe(target), err)}`,
    code,
  );
}

/** Problems that waiting does not fix: a service stops at start-up on these instead of retrying for its budget. */
export const FATAL_PROBLEMS: readonly WarehouseProblem[] = [
  'unknown-host',
  'auth-failed',
  'tls-required',
  'tls-unsupported',
  'tls-certificate',
  'permission-denied',
  'missing-database',
];
