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

export interface TrickleProxy {
  port: number;
  /** Bytes passed from the target to clients so far. */
  readonly forwarded: number;
  close(): Promise<void>;
}

/**
 * A TCP proxy on loopback that passes the target's answers on at most
 * `bytesPerTick` every `tickMs`: a source that streams slowly, so a job
 * reading it is long and gets its rows in a steady trickle.
 */
export async function startTrickleProxy(targetPort: number, bytesPerTick: number, tickMs: number): Promise<TrickleProxy> {
  const sockets = new Set<net.Socket>();
  let forwarded = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const queue: Buffer[] = [];
    const timer = setInterval(() => {
      let budget = bytesPerTick;
      while (budget > 0 && queue.length) {
        const head = queue[0]!;
        const piece = head.subarray(0, budget);
        if (piece.length === head.length) queue.shift();
        else queue[0] = head.subarray(budget);
        budget -= piece.length;
        forwarded += piece.length;
        client.write(piece);
      }
      // Read no more of the target than is waiting to be passed on.
      if (queue.length < 4) upstream.resume();
    }, tickMs);
    upstream.on('data', (data: Buffer) => {
      queue.push(data);
      if (queue.length >= 4) upstream.pause();
    });
    const end = () => {
      clearInterval(timer);
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on('error', end);
      s.on('close', end);
    }
    client.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    get forwarded() {
      return forwarded;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
