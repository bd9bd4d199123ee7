/**
 * Several hosts on one machine: one Linux network namespace per host, each
 * with its own address on a private network (10.77.0.0/24) joined by veth
 * pairs to a bridge that lives in a namespace of its own. Nothing is added to
 * the machine's own network: this process reaches servers inside through
 * gateways (a Unix socket, a file, forwarded inside the namespace). Cutting a
 * host sets its veth's bridge end down, as a pulled cable would: its packets
 * vanish, its connections stay half-open on both sides. Needs root and
 * iproute2; every namespace is deleted by `close()`, and at exit if a test
 * died before it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { REPO, tempDir } from './env.ts';

export interface Host {
  name: string;
  /** The network namespace's name. */
  ns: string;
  address: string;
}

export interface HostProcess {
  host: Host;
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  exited: Promise<number | null>;
}

export interface HostNetwork {
  hosts: Record<string, Host>;
  /** A folder of this run, for sockets and server data. */
  dir: string;
  /** Starts `command` on `host` (inside its namespace). */
  spawn(host: Host, command: string, args: string[], env?: Record<string, string>): HostProcess;
  /** Resolves once `proc` printed a line matching `pattern`; rejects if it exits first or after `timeoutMs`. */
  waitForOutput(proc: HostProcess, pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** A port on this process's loopback that reaches `host`'s `port`. */
  gateway(host: Host, port: number): Promise<number>;
  /** Takes the host off the network (its link down), then back on. */
  cut(host: Host): void;
  heal(host: Host): void;
  close(): Promise<void>;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });

/** Why the harness cannot run here, or undefined when it can. */
export function hostNetworkUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
  } catch {
    return 'iproute2 (`ip netns`) is missing';
  }
  return undefined;
}

export async function startHostNetwork(names: string[]): Promise<HostNetwork> {
  // Interface names are at most 15 characters: a short tag of this run, then a role and an index.
  const tag = `mh${randomBytes(3).toString('hex')}`;
  const bridgeNs = `${tag}-net`;
  const namespaces: string[] = [];
  const processes: HostProcess[] = [];
  const servers: net.Server[] = [];
  const dir = await tempDir('musicflow-hosts-');
  // Also at exit, when a test died before close(): whatever still runs inside (a daemonized PostgreSQL too) goes first.
  const removeNamespaces = () => {
    for (const ns of namespaces.splice(0)) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split('\n').filter(Boolean);
        for (const pid of pids) process.kill(Number(pid), 'SIGKILL');
        ip('netns', 'del', ns);
      } catch {
        // Already gone.
      }
    }
  };
  process.once('exit', removeNamespaces);

  const hosts: Record<string, Host> = {};
  try {
    ip('netns', 'add', bridgeNs);
    namespaces.push(bridgeNs);
    ip('-n', bridgeNs, 'link', 'add', 'br0', 'type', 'bridge');
    ip('-n', bridgeNs, 'link', 'set', 'br0', 'up');
    names.forEach((name, i) => {
      const host: Host = { name, ns: `${tag}-${name}`, address: `10.77.0.${10 + i}` };
      ip('netns', 'add', host.ns);
      namespaces.push(host.ns);
      ip('link', 'add', `${tag}h${i}`, 'type', 'veth', 'peer', 'name', `${tag}b${i}`);
      ip('link', 'set', `${tag}h${i}`, 'netns', host.ns, 'name', 'eth0');
      ip('link', 'set', `${tag}b${i}`, 'netns', bridgeNs, 'name', `port${i}`);
      ip('-n', bridgeNs, 'link', 'set', `port${i}`, 'master', 'br0');
      ip('-n', bridgeNs, 'link', 'set', `port${i}`, 'up');
      ip('-n', host.ns, 'addr', 'add', `${host.address}/24`, 'dev', 'eth0');
      ip('-n', host.ns, 'link', 'set', 'eth0', 'up');
      ip('-n', host.ns, 'link', 'set', 'lo', 'up');
      hosts[name] = host;
    });
  } catch (err) {
    removeNamespaces();
    throw err;
  }
  const portOf = (host: Host) => `port${names.indexOf(host.name)}`;

  const network: HostNetwork = {
    hosts,
    dir,
    spawn(host, command, args, env = {}) {
      const child = spawn('ip', ['netns', 'exec', host.ns, command, ...args], { cwd: REPO, env: { ...process.env, ...env } });
      let output = '';
      child.stdout.on('data', (b: Buffer) => (output += b.toString()));
      child.stderr.on('data', (b: Buffer) => (output += b.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const proc = { host, child, output: () => output, exited };
      processes.push(proc);
      return proc;
    },
    async waitForOutput(proc, pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      let exited = false;
      void proc.exited.then(() => (exited = true));
      for (;;) {
        const match = pattern.exec(proc.output());
        if (match) return match;
        if (exited) throw new Error(`${proc.host.name}: exited before printing ${pattern}:\n${proc.output().slice(-3000)}`);
        if (Date.now() > deadline) throw new Error(`${proc.host.name}: no ${pattern} within ${timeoutMs} ms:\n${proc.output().slice(-3000)}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async gateway(host, port) {
      const socket = path.join(dir, `gw-${host.name}-${port}.sock`);
      const forwarder = network.spawn(host, process.execPath, [path.join(REPO, 'test/helpers/netns-gateway.mjs'), socket, host.address, String(port)]);
      await network.waitForOutput(forwarder, /ready/, 30_000);
      const server = net.createServer((client) => {
        const upstream = net.connect(socket);
        client.pipe(upstream).pipe(client);
        const end = () => (client.destroy(), upstream.destroy());
        client.on('error', end);
        upstream.on('error', end);
      });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return (server.address() as net.AddressInfo).port;
    },
    cut: (host) => ip('-n', bridgeNs, 'link', 'set', portOf(host), 'down'),
    heal: (host) => ip('-n', bridgeNs, 'link', 'set', portOf(host), 'up'),
    async close() {
      for (const proc of processes) if (proc.child.exitCode === null) proc.child.kill('SIGKILL');
      await Promise.all(processes.map((p) => Promise.race([p.exited, new Promise((resolve) => setTimeout(resolve, 5000))])));
      await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
      removeNamespaces();
      process.removeListener('exit', removeNamespaces);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
  return network;
}
