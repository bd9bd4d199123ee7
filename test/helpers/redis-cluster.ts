import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './env.ts';

const exec = promisify(execFile);

/**
 * A Redis Cluster of the test's own on loopback: three masters with one
 * replica each, every node a `redis-server --cluster-enabled yes` child of this
 * process (so a master can be killed as a crash would), joined by
 * `redis-cli --cluster create`. A short node timeout (2 s) lets a replica take
 * over a dead master within seconds.
 */
export interface LocalRedisCluster {
  /** The seeds as REDIS_CLUSTER_NODES wants them: every node, `127.0.0.1:port,…`. */
  nodes: string;
  /** The port of the master serving the slot of `key` (a hash tag's slot for `{tag}`). */
  masterOf(key: string): Promise<number>;
  /** SIGKILLs the node on `port`. */
  kill(port: number): void;
  /** Resolves once every live node sees the cluster whole again (`cluster_state:ok`) and agrees on a live master for `key`'s slot. */
  waitForFailover(key: string, timeoutMs?: number): Promise<void>;
  /** Keys whose name starts with `prefix`, on the master serving `prefix`'s slot. */
  keysUnder(prefix: string): Promise<string[]>;
  /** Stops every node and deletes their folders. */
  stop(): Promise<void>;
}

const NODE_TIMEOUT_MS = 2000;

export async function startRedisCluster(): Promise<LocalRedisCluster> {
  const dir = await tempDir('musicflow-redis-cluster-');
  const nodes = new Map<number, ChildProcess>();
  const cli = (port: number, ...args: string[]) => exec('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args]).then((r) => r.stdout.trim());
  const killed = new Set<number>();
  const live = () => [...nodes.keys()].filter((port) => !killed.has(port));

  // Nodes outlive a test process that dies without its teardown: they go with it.
  const killAll = () => {
    for (const node of nodes.values()) node.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const stop = async () => {
    process.off('exit', killAll);
    killAll();
    await Promise.all(
      [...nodes.values()].map((node) => (node.exitCode !== null || node.signalCode !== null ? undefined : new Promise((r) => node.once('exit', r)))),
    );
    await fs.rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 6; i++) {
      const port = await freeNodePort(new Set(nodes.keys()));
      const nodeDir = path.join(dir, String(port));
      await fs.mkdir(nodeDir);
      // prettier-ignore
      const node = spawn('redis-server', [
        '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf',
        '--cluster-node-timeout', String(NODE_TIMEOUT_MS), '--dir', nodeDir, '--logfile', path.join(nodeDir, 'redis.log'),
        // A replica that never synced may not take over: sync at once, not after the default 5 s delay.
        '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0',
      ], { stdio: 'ignore' });
      nodes.set(port, node);
    }
    const ports = [...nodes.keys()];
    await until(async () => (await Promise.all(ports.map((p) => cli(p, 'ping').catch(() => '')))).every((r) => r === 'PONG'), 10_000, 'nodes answering PING');
    const create = execFile('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '1']);
    create.stdin!.end('yes\n');
    const code = await new Promise<number | null>((resolve) => create.once('exit', resolve));
    if (code !== 0) throw new Error(`redis-cli --cluster create exited with ${code}`);
    await until(async () => (await Promise.all(ports.map((p) => clusterState(cli, p)))).every((s) => s === 'ok'), 20_000, 'cluster_state:ok on every node');
    const replicasSynced = async () => {
      const infos = await Promise.all(ports.map((p) => cli(p, 'info', 'replication')));
      return infos.filter((i) => i.includes('role:slave') && i.includes('master_link_status:up')).length === 3;
    };
    await until(replicasSynced, 20_000, 'replica in sync with its master');
  } catch (err) {
    await stop();
    throw err;
  }

  /** The port of the master that node `via` says serves `slot` (a master it marks failed serves nothing), if any. */
  const slotMaster = async (via: number, slot: number) => {
    for (const line of (await cli(via, 'cluster', 'nodes')).split('\n')) {
      const [, address, flags, , , , , , ...ranges] = line.split(' ');
      const roles = flags?.split(',') ?? [];
      if (!roles.includes('master') || roles.includes('fail')) continue;
      const owns = ranges.some((range) => {
        const [from, to = from] = range.split('-').map(Number);
        return slot >= from! && slot <= to!;
      });
      if (owns) return Number(address!.split('@')[0]!.split(':')[1]);
    }
    return undefined;
  };
  const masterOf = async (key: string) => {
    const via = live()[0]!;
    const slot = Number(await cli(via, 'cluster', 'keyslot', key));
    const port = await slotMaster(via, slot);
    if (port === undefined) throw new Error(`Redis Cluster: no live master serves slot ${slot} of ${key}`);
    return port;
  };

  return {
    nodes: [...nodes.keys()].map((p) => `127.0.0.1:${p}`).join(','),
    masterOf,
    kill(port) {
      killed.add(port);
      nodes.get(port)!.kill('SIGKILL');
    },
    async waitForFailover(key, timeoutMs = 30_000) {
      const slot = Number(await cli(live()[0]!, 'cluster', 'keyslot', key));
      await until(
        async () => {
          const ports = live();
          const states = await Promise.all(ports.map((p) => clusterState(cli, p)));
          if (!states.every((s) => s === 'ok')) return false;
          // Every live node agrees on a live master for the slot.
          const masters = await Promise.all(ports.map((p) => slotMaster(p, slot)));
          return masters.every((m) => m !== undefined && m === masters[0] && ports.includes(m));
        },
        timeoutMs,
        `live master for the slot of ${key} agreed on by every node`,
      );
    },
    async keysUnder(prefix) {
      const out = await cli(await masterOf(prefix), '--scan', '--pattern', `${prefix.replace(/[[\]{}*?\\]/g, '\\$&')}*`);
      return out ? out.split('\n') : [];
    },
    stop,
  };
}

async function clusterState(cli: (port: number, ...args: string[]) => Promise<string>, port: number): Promise<string> {
  const info = await cli(port, 'cluster', 'info').catch(() => '');
  return /cluster_state:(\w+)/.exec(info)?.[1] ?? 'unreachable';
}

async function until(condition: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Redis Cluster: no ${what} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** A port that is free with its cluster bus port (port + 10000). */
async function freeNodePort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20000 + randomInt(30000);
    if (![port, port + 10000, port - 10000].some((p) => taken.has(p)) && (await listenable(port)) && (await listenable(port + 10000))) return port;
  }
}

function listenable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
