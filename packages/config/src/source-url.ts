/**
 * Source URLs (a run's streams folder, users and songs) as the object stores
 * can use them. A URL a store cannot use is refused up front, naming why,
 * instead of failing every retry of a run; one folder written several ways
 * (`file:///d/`, `file://localhost/d/`, `file:///d/./`) is one source, so the
 * active-run guard and the allow-list see it once.
 */

/** At most this many bytes: analytics.etl_runs.streams_url holds 1024. */
export const SOURCE_URL_MAX_BYTES = 1024;
/** A file or folder name is at most 255 bytes on common file systems (and a sane S3 key segment). */
const SEGMENT_MAX_BYTES = 255;
const S3_BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const OBJECT_URL = /^(s3|file):\/\/([^/?#]*)([^?#]*)/i;

const decodeSegment = (segment: string): string | undefined => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
};

const quoted = (segment: string) => JSON.stringify(segment.length > 40 ? `${segment.slice(0, 40)}…` : segment);

/** Why the stores cannot use `url` as a source, or undefined when they can. */
export function sourceUrlProblem(url: string): string | undefined {
  const bytes = Buffer.byteLength(url, 'utf8');
  if (bytes > SOURCE_URL_MAX_BYTES) return `is ${bytes} bytes long, at most ${SOURCE_URL_MAX_BYTES}`;
  if (/\p{Cc}/u.test(url)) return 'must not hold control characters';
  if (/^postgres(ql)?:\/\//i.test(url)) {
    return URL.canParse(url) ? undefined : 'is not a valid postgres:// URL';
  }
  const m = OBJECT_URL.exec(url);
  if (!m) return 'must be an s3://, file:// or postgres:// URL';
  if (/[?#]/.test(url)) return 'must not have a query (?) or a fragment (#): an object store URL is a bucket or folder and a path';
  if (/%(?![0-9a-f]{2})/i.test(url)) return 'has a % that does not start a percent-encoded byte (%XX)';
  const [, scheme, host, path] = m as unknown as [string, string, string, string];
  if (scheme.toLowerCase() === 's3' && !S3_BUCKET.test(host)) return `names the bucket ${quoted(host)}, which is not a valid S3 bucket name`;
  if (scheme.toLowerCase() === 'file' && host !== '' && host.toLowerCase() !== 'localhost') {
    return `names the host ${quoted(host)}: a file:// URL is file:///path (this machine's folders only)`;
  }
  for (const segment of path.split('/')) {
    const decoded = decodeSegment(segment);
    if (decoded === undefined) return `has the path segment ${quoted(segment)}, which is not percent-encoded UTF-8`;
    if (/[/\\\0]/.test(decoded)) return `has the path segment ${quoted(segment)}, which encodes a /, a \\ or a NUL`;
    if (decoded === '..') return 'must not hold a .. segment: give the folder by its own path';
    const segmentBytes = Buffer.byteLength(decoded, 'utf8');
    if (segmentBytes > SEGMENT_MAX_BYTES) return `has a path segment of ${segmentBytes} bytes, at most ${SEGMENT_MAX_BYTES}`;
  }
  return undefined;
}

/**
 * One spelling per source: the scheme in lower case, `file://localhost/` as
 * `file:///`, `.` segments dropped and, in a file path, empty segments (`//`)
 * too (S3 keys may hold `//`, so they stay). A database URL is kept as given.
 * Meant for URLs without a sourceUrlProblem.
 */
export function normalizeSourceUrl(url: string): string {
  const m = OBJECT_URL.exec(url);
  if (!m) return url;
  const [, rawScheme, host, path] = m as unknown as [string, string, string, string];
  const scheme = rawScheme.toLowerCase();
  const segments = path.split('/').slice(1);
  const last = segments.length - 1;
  const kept = segments.filter((s, i) => decodeSegment(s) !== '.' && !(scheme === 'file' && s === '' && i !== last));
  // A trailing `.` names its folder: keep the slash that says so.
  const folder = segments.length > 0 && decodeSegment(segments[last]!) === '.' && kept.at(-1) !== '';
  return `${scheme}://${scheme === 'file' ? '' : host}${kept.length ? `/${kept.join('/')}` : ''}${folder ? '/' : ''}`;
}
