import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface HoldProxy {
  port: number;
  /** From now on connections go through to the target; the ones held so far are dropped. */
  release(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on loopback that holds every connection unanswered until
 * released, then forwards to `targetPort`: a job reading through it is
 * active and stuck, as on a server that stopped answering.
 */
export async function startHoldProxy(targetPort: number): Promise<HoldProxy> {
  let holding = true;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    if (holding) return;
    const upstream = net.connect(targetPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    release() {
      holding = false;
      for (const s of sockets) s.destroy();
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
