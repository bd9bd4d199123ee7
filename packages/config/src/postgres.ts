import fs from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { readSecretFile } from './secrets.ts';

/**
 * One PostgreSQL connection as configured: the URL, the variable it came from
 * (every message about it names that variable) and the file its password is
 * read from, when there is one.
 */
export interface PostgresTarget {
  url: string;
  /** WAREHOUSE_URL, USERS_URL or SONGS_URL. */
  setting: string;
  /** `<NAME>_PASSWORD_FILE`: read again for every new connection, so a rotated password needs no restart. */
  passwordFile?: { path: string; variable: string };
}

/**
 * The `sslmode` values musicflow takes, with libpq's meaning: `require`
 * encrypts without checking the certificate (unless `sslrootcert` is given:
 * then as `verify-ca`), `verify-ca` checks it was signed by the CA bundle
 * `sslrootcert`, `verify-full` also checks the host name. Without `sslmode`,
 * `sslrootcert` means `verify-full`. `prefer` and `allow` (fall back to
 * plaintext) are refused: a connection is either encrypted or not, by setting.
 */
export const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;
type SslMode = (typeof SSL_MODES)[number];

/** URL parameters read here rather than handed on; every other one (application_name, options, ...) goes to the server as it is. */
const TLS_PARAMETERS = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey'];

/** What node-postgres' Client and Pool take, from a target. */
export interface PostgresClientConfig {
  host: string;
  port?: number;
  user?: string;
  database?: string;
  /** A function is called by node-postgres for each new connection. */
  password?: string | (() => string);
  /** Left undefined without sslmode, so PGSSLMODE still applies. */
  ssl?: false | ConnectionOptions;
  [parameter: string]: unknown;
}

/** The setting's problems with its TLS parameters, one line each (empty when usable). */
export function postgresUrlProblems(url: string, setting: string): string[] {
  let params: URLSearchParams;
  try {
    params = new URL(url).searchParams;
  } catch {
    return [];
  }
  const problems: string[] = [];
  const mode = params.get('sslmode');
  if (mode !== null && !(SSL_MODES as readonly string[]).includes(mode)) {
    problems.push(`${setting}: sslmode=${mode} is not supported: use ${SSL_MODES.join(', ')} (verify-full with sslrootcert=<CA bundle> in production)`);
  }
  if (mode === 'verify-ca' && !params.get('sslrootcert')) {
    problems.push(`${setting}: sslmode=verify-ca needs sslrootcert=<CA bundle file>: with public CAs anyone they certify could pose as the server`);
  }
  if (params.get('sslrootcert') === 'system' && mode !== null && mode !== 'verify-full') {
    problems.push(
      `${setting}: sslrootcert=system (the public CAs) needs sslmode=verify-full: without the host check anyone they certify could pose as the server`,
    );
  }
  for (const name of ['sslrootcert', 'sslcert', 'sslkey']) {
    const file = params.get(name);
    if (file && file !== 'system' && !readable(file)) problems.push(`${setting}: ${name}=${file} cannot be read: mount the file there or fix the path`);
  }
  return problems;
}

function readable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/**
 * node-postgres' options for a target: the URL's parts, its TLS parameters
 * with libpq's meaning (see SSL_MODES; node-postgres alone would treat
 * `require` as `verify-full`), and the password from the URL or, with a
 * password file, a function that reads it for each connection.
 */
export function postgresClientConfig(target: PostgresTarget): PostgresClientConfig {
  const url = new URL(target.url);
  const params = url.searchParams;
  const passthrough = Object.fromEntries([...params].filter(([name]) => !TLS_PARAMETERS.includes(name)));
  const file = target.passwordFile;
  return {
    ...passthrough,
    host: params.get('host') ?? decodeURIComponent(url.hostname.replace(/^\[(.+)\]$/, '$1')),
    port: url.port ? Number(url.port) : undefined,
    user: decodeURIComponent(url.username) || undefined,
    database: decodeURIComponent(url.pathname.slice(1)) || undefined,
    password: file ? () => readSecretFile(file.path, file.variable) : decodeURIComponent(url.password) || undefined,
    ssl: tlsOptions(params),
  };
}

function tlsOptions(params: URLSearchParams): false | ConnectionOptions | undefined {
  const rootCert = params.get('sslrootcert');
  const mode = (params.get('sslmode') ?? (rootCert ? 'verify-full' : undefined)) as SslMode | undefined;
  if (mode === undefined) return undefined;
  if (mode === 'disable') return false;
  const read = (name: string) => {
    const file = params.get(name);
    return file && file !== 'system' ? fs.readFileSync(file, 'utf8') : undefined;
  };
  const options: ConnectionOptions = { ca: read('sslrootcert'), cert: read('sslcert'), key: read('sslkey') };
  const anyHost = () => undefined;
  if (mode === 'require') return rootCert ? { ...options, checkServerIdentity: anyHost } : { ...options, rejectUnauthorized: false };
  if (mode === 'verify-ca') return { ...options, checkServerIdentity: anyHost };
  return options;
}
