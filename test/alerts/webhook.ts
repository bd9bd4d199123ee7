import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface ReceivedRequest {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

export interface Receiver {
  url: string;
  received: Record<string, unknown>[];
  /** Every request with its path and headers: lineage and OTLP receivers check where and how it came. */
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/**
 * A webhook (or OpenLineage, or OTLP/HTTP JSON) receiver on 127.0.0.1: records each JSON body and answers 200, or
 * (`hang`) accepts requests and never answers.
 */
export async function startReceiver(mode: 'ok' | 'hang' = 'ok'): Promise<Receiver> {
  const received: Record<string, unknown>[] = [];
  const requests: ReceivedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const bytes = Buffer.concat(chunks);
      const body = JSON.parse((req.headers['content-encoding'] === 'gzip' ? gunzipSync(bytes) : bytes).toString('utf8'));
      received.push({ ...body, contentType: req.headers['content-type'] });
      requests.push({ path: req.url ?? '', headers: req.headers, body });
      if (mode === 'ok') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    received,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback port nothing listens on (taken, then released). */
export async function deadUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return `http://127.0.0.1:${port}/hook`;
}
