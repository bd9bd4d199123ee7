import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { freePort } from './private-postgres.ts';
import { tempDir } from './env.ts';

/**
 * A Redis server of the test's own, for what the shared one cannot show: a
 * password (`requirepass`) changed at run time, or TLS only (`--port 0
 * --tls-port`, the ElastiCache in-transit encryption shape).
 */
export interface PrivateRedis {
  port: number;
  stop(): Promise<void>;
}

export async function startPrivateRedis(options: { password?: string; tls?: { cert: string; key: string; ca: string } }): Promise<PrivateRedis> {
  const dir = await tempDir('musicflow-redis-');
  const port = await freePort();
  const args = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--logfile', path.join(dir, 'server.log')];
  if (options.password) args.push('--requirepass', options.password);
  if (options.tls) {
    args.push('--port', '0', '--tls-port', String(port), '--tls-cert-file', options.tls.cert, '--tls-key-file', options.tls.key);
    args.push('--tls-ca-cert-file', options.tls.ca, '--tls-auth-clients', 'no');
  } else args.push('--port', String(port));
  const server: ChildProcess = spawn('redis-server', args, { stdio: 'ignore', detached: true });
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const log = await fs.readFile(path.join(dir, 'server.log'), 'utf8').catch(() => '');
    if (log.includes('Ready to accept connections')) break;
    if (server.exitCode !== null || Date.now() > deadline) throw new Error(`redis-server did not start:\n${log}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    port,
    async stop() {
      // The whole process group: a test that turns AOF on starts a rewrite in
      // a forked child, which outlives a killed server and writes into `dir`
      // as it is removed (ENOTEMPTY). SIGTERM would not do: a server writing
      // its initial AOF refuses to shut down.
      try {
        process.kill(-server.pid!, 'SIGKILL');
      } catch (err) {
        // ESRCH: the server and its children are gone already.
        if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
      }
      await exited;
      await fs.rm(dir, { recursive: true, force: true, maxRetries: 5 });
    },
  };
}
