/**
 * Browsers are not clients of this API, except on its own pages (Bull Board,
 * the docs, the dashboard). Two checks keep any other web page out, even of an
 * API on loopback without a token:
 *   - DNS rebinding: a page on `evil.example` whose name then resolves to
 *     127.0.0.1 talks to the API with `Host: evil.example`. A request whose
 *     Host is a name not in the allow-list (localhost, API_HOST, API_ALLOWED_HOSTS)
 *     is refused. IP literals pass: a rebinding always carries a name, and a
 *     probe by address (a load balancer, Kubernetes) keeps working.
 *   - Cross-site writes: a form or `fetch(..., { mode: 'no-cors' })` from any
 *     page can POST without a preflight. A write whose `Origin` is not the API's
 *     own, or that the browser marks `Sec-Fetch-Site: cross-site`/`same-site`,
 *     is refused. curl and the CLI send neither header and are not affected.
 */
import { isIP } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

const READS = new Set(['GET', 'HEAD', 'OPTIONS']);
const SAME_ORIGIN_FETCH = new Set(['same-origin', 'none']);

/** The host names a request may carry: localhost, the API_HOST when it is a name, and API_ALLOWED_HOSTS. */
export function allowedHostNames(apiHost: string, extra: readonly string[]): Set<string> {
  return new Set(['localhost', apiHost, ...extra].map((h) => h.toLowerCase().replace(/\.$/, '')).filter((h) => h && !isIP(h)));
}

/** The name or address of a Host header, without port, brackets and trailing dot. */
function hostName(header: string): string {
  const host = header.trim().toLowerCase();
  const name = host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d*$/, '');
  return name.replace(/\.$/, '');
}

/** Why a request must be refused as coming from another site, or undefined. */
export function foreignRequestProblem(request: Pick<FastifyRequest, 'method' | 'headers'>, allowedHosts: ReadonlySet<string>): string | undefined {
  const host = request.headers.host;
  if (host !== undefined) {
    const name = hostName(host);
    if (!isIP(name) && !allowedHosts.has(name)) {
      return `Host ${JSON.stringify(host.slice(0, 100))} is not a name of this API: add it to API_ALLOWED_HOSTS if clients really use it`;
    }
  }
  if (READS.has(request.method)) return undefined;
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string' && !SAME_ORIGIN_FETCH.has(site)) return `a write from another site (Sec-Fetch-Site: ${site}) is refused`;
  const origin = request.headers.origin;
  if (origin === undefined) return undefined;
  let originHost: string | undefined;
  try {
    originHost = new URL(origin).host;
  } catch {
    originHost = undefined;
  }
  if (!originHost || originHost !== host?.trim().toLowerCase()) {
    return `a write from another origin (${JSON.stringify(origin.slice(0, 100))}) is refused: only the API's own pages, curl and the CLI may write`;
  }
  return undefined;
}

/** Installs both checks ahead of every route; a refusal is a 403 and one log line. */
export function registerOriginGuard(app: FastifyInstance, allowedHosts: ReadonlySet<string>): void {
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const problem = foreignRequestProblem(request, allowedHosts);
    if (!problem) return;
    request.log.warn({ method: request.method, url: request.url.slice(0, 200), host: request.headers.host?.slice(0, 100) }, 'foreign request refused');
    return reply.code(403).send({ statusCode: 403, error: 'Forbidden', message: problem });
  });
}
