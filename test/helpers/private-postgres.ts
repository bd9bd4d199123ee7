import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './env.ts';

const exec = promisify(execFile);
const BIN = process.env.TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';

/**
 * A PostgreSQL cluster of the test's own, for what the shared server cannot
 * show: its pg_hba trusts every local connection, so a wrong password is only
 * refused by a cluster that checks them (scram-sha-256); and it may be
 * stopped mid-run. As root the server runs as the `postgres` OS user, since
 * PostgreSQL refuses to run as root. With `tls`, it runs with ssl=on and its
 * pg_hba.conf rejects every TCP connection that is not encrypted (as RDS
 * does with rds.force_ssl).
 */
export interface PrivatePostgres {
  /** postgres://user:password@<address>:port/database (127.0.0.1 unless started on a host's address) */
  url(user: string, password: string, database?: string): string;
  /** The same through the server's Unix socket: reachable from any network namespace. */
  socketUrl(user: string, password: string, database?: string): string;
  /** Stops the server as a crash would (`pg_ctl stop -m immediate`): every session cut, new connections refused. Its data stays. */
  down(): Promise<void>;
  /** Starts it again on the same port, after crash recovery; resolves once it accepts connections. */
  up(): Promise<void>;
  /** Stops the server and deletes its data. */
  stop(): Promise<void>;
}

/**
 * `options.on`: a network namespace to run in and the address to listen on there (test/helpers/hosts.ts);
 * `options.tls`: a server certificate and key, and only TLS connections taken over TCP.
 */
export async function startPrivatePostgres(
  adminPassword: string,
  options: { on?: { ns: string; address: string }; tls?: { cert: string; key: string } } = {},
): Promise<PrivatePostgres> {
  const { on } = options;
  const dir = await tempDir('musicflow-pg-');
  const address = on?.address ?? '127.0.0.1';
  const inNamespace = (cmd: string, args: string[]) => (on ? exec('ip', ['netns', 'exec', on.ns, cmd, ...args]) : exec(cmd, args));
  const asOwner = process.getuid?.() === 0 ? (cmd: string, args: string[]) => inNamespace('runuser', ['-u', 'postgres', '--', cmd, ...args]) : inNamespace;
  if (process.getuid?.() === 0) await fs.chown(dir, ...(await ownerIds()));
  const pwfile = path.join(dir, 'pw');
  await fs.writeFile(pwfile, adminPassword);
  if (process.getuid?.() === 0) await fs.chown(pwfile, ...(await ownerIds()));
  const data = path.join(dir, 'data');
  await asOwner(path.join(BIN, 'initdb'), ['-D', data, '-U', 'admin', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-N']);
  // Clients on the host's network (other namespaces), with passwords checked as for local ones.
  if (on) await fs.appendFile(path.join(data, 'pg_hba.conf'), 'host all all samenet scram-sha-256\n');
  const port = await freePort();
  const settings = [`-p ${port}`, `-k ${dir}`, `-c listen_addresses=${address}`, '-c fsync=off'];
  if (options.tls) {
    // The server reads its key only when the postgres OS user owns it and no one else may read it.
    for (const [from, name] of [
      [options.tls.cert, 'server.crt'],
      [options.tls.key, 'server.key'],
    ] as const) {
      await fs.copyFile(from, path.join(data, name));
      await fs.chmod(path.join(data, name), 0o600);
      if (process.getuid?.() === 0) await fs.chown(path.join(data, name), ...(await ownerIds()));
    }
    settings.push('-c ssl=on');
    await fs.writeFile(
      path.join(data, 'pg_hba.conf'),
      ['local all all scram-sha-256', 'hostssl all all 127.0.0.1/32 scram-sha-256', 'hostnossl all all 127.0.0.1/32 reject', ''].join('\n'),
    );
  }
  // The server's output goes to a log file: on inherited pipes, pg_ctl would never seem to finish.
  const start = () => asOwner(path.join(BIN, 'pg_ctl'), ['-D', data, '-w', '-l', path.join(dir, 'server.log'), '-o', settings.join(' '), 'start']);
  const down = () => asOwner(path.join(BIN, 'pg_ctl'), ['-D', data, '-w', '-m', 'immediate', 'stop']);
  await start();
  return {
    url: (user, password, database = 'postgres') => `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${address}:${port}/${database}`,
    socketUrl: (user, password, database = 'postgres') =>
      `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@localhost:${port}/${database}?host=${encodeURIComponent(dir)}`,
    down: async () => void (await down()),
    up: async () => void (await start()),
    async stop() {
      await down().catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    },
  };
}

async function ownerIds(): Promise<[number, number]> {
  const { stdout } = await exec('id', ['-u', 'postgres']);
  const { stdout: gid } = await exec('id', ['-g', 'postgres']);
  return [Number(stdout.trim()), Number(gid.trim())];
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
