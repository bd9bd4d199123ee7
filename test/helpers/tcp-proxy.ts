import net from 'node:net';

/**
 * A TCP proxy on loopback in front of a shared server (PostgreSQL), so a test
 * can make that server go away for a while without stopping it for everyone
 * else: `down()` cuts every open connection and stops listening (new
 * connections are refused), `up()` listens again on the same port.
 */
export interface TcpProxy {
  port: number;
  /** The `database` of every PostgreSQL start-up message that went through, in order. */
  databases: string[];
  /** `url` with its host and port replaced by the proxy's. */
  via(url: string): string;
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  const databases: string[] = [];
  const server = net.createServer((client) => {
    client.once('data', (chunk: Buffer) => {
      const database = startupDatabase(chunk);
      if (database) databases.push(database);
    });
    const upstream = net.connect(target.port, target.host);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined); // the peer sees the cut; nothing to report here
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
  await listen(0);
  const port = (server.address() as net.AddressInfo).port;
  const stop = async () => {
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  return {
    port,
    databases,
    via(url) {
      const parsed = new URL(url);
      parsed.hostname = '127.0.0.1';
      parsed.port = String(port);
      return parsed.toString();
    },
    down: stop,
    up: () => listen(port),
    close: () => (server.listening ? stop() : Promise.resolve()),
  };
}

/** PostgreSQL's start-up message: length, protocol 3.0, then `name\0value\0` pairs ending in `\0`. */
function startupDatabase(chunk: Buffer): string | undefined {
  if (chunk.length < 8 || chunk.readInt32BE(4) !== 196608) return undefined;
  const pairs = chunk.subarray(8, chunk.readInt32BE(0)).toString('utf8').split('\0');
  const at = pairs.indexOf('database');
  return at >= 0 && at % 2 === 0 ? pairs[at + 1] : undefined;
}
