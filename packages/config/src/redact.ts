/**
 * The one redaction of credentials for everything that leaves a process: logs,
 * HTTP responses, alerts and what is stored in the warehouse. A URL or a
 * connection string can carry a credential as `user:password@`, as a query
 * parameter (`?password=`, `sslpassword=`, `sslkey=`, `token=`, `secret=`,
 * S3 presigned `X-Amz-Credential`/`X-Amz-Signature`/`X-Amz-Security-Token`,
 * `sig=`, `api_key=`...) or as a libpq `key=value` pair (`host=h password=p`).
 * Every such value becomes `***`; the rest (scheme, host, port, database, path)
 * stays, so a message still says where. It errs on the side of hiding.
 */

const MASK = '***';

/** Parameter names whose value is a credential, or the path of one (`sslkey`). */
const SECRET_NAME = /pass|pwd|secret|token|signature|credential|key$|^sig$|^auth|session/i;

/** `scheme://user:password@` (the password may hold characters a strict URL parser refuses). */
const USERINFO = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/?#@:"]*:)[^\s@"]*@/gi;

/** `name=value` after the start, whitespace, `?`, `#`, `&`, `;` or `,`; a libpq value may be 'quoted'. */
const PARAMETER = /(^|[\s?#&;,])([a-z0-9_.-]+)(\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&#;,"'<>]*)/gi;

/** `text` with every credential a URL, connection string or query can carry replaced by `***`. */
export function redactSecrets(text: string): string {
  return text
    .replace(USERINFO, `$1${MASK}@`)
    .replace(PARAMETER, (whole, before: string, name: string, equals: string, value: string) =>
      SECRET_NAME.test(name) && value !== MASK && value !== '' ? `${before}${name}${equals}${MASK}` : whole,
    );
}

/** A connection string or object URL with its credentials hidden, so it can be logged, shown or stored. */
export const redactUrl = (url: string): string => redactSecrets(url);

/** A copy of JSON-like data (a run report, an alert) with every string redacted. */
export function redactDeep<T>(value: T): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map(redactDeep) as T;
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactDeep(v)])) as T;
}
