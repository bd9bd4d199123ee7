/**
 * Secrets from files (`<NAME>_FILE`, Docker and Kubernetes secrets): read at
 * start-up, and the connection passwords read again for every new
 * connection, so a password rotated on the server and in the file is used
 * without a restart. Against a private PostgreSQL that checks passwords
 * (scram-sha-256) and a private Redis with `requirepass`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Queue, Worker } from 'bullmq';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { catalogueTarget, loadConfig, postgresTarget } from '@musicflow/config';
import { redisConnection } from '@musicflow/flow';
import { readCatalogueSource } from '@musicflow/ingest';
import { createObjectStore } from '@musicflow/storage';
import { Warehouse, WarehouseConnectionError } from '@musicflow/warehouse';
import { tempDir, uniqueName } from '../helpers/env.ts';
import { startPrivatePostgres, type PrivatePostgres } from '../helpers/private-postgres.ts';
import { startPrivateRedis, type PrivateRedis } from '../helpers/private-redis.ts';

describe('secrets from files', () => {
  let dir: string;
  const secret = (name: string, content: string) => fs.writeFile(path.join(dir, name), `${content}\n`).then(() => path.join(dir, name));

  beforeAll(async () => {
    dir = await tempDir('musicflow-secrets-');
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('API_TOKEN_FILE gives the token, its trailing newline dropped; a token both ways, or a missing file, is refused naming the variable', async () => {
    const file = await secret('token', 'a-token-of-at-least-16');
    expect(loadConfig({ API_TOKEN_FILE: file }).API_TOKEN).toBe('a-token-of-at-least-16');
    expect(() => loadConfig({ API_TOKEN_FILE: file, API_TOKEN: 'another-token-16-chars' })).toThrow('API_TOKEN and API_TOKEN_FILE are both set');
    expect(() => loadConfig({ API_TOKEN_FILE: path.join(dir, 'missing') })).toThrow(/API_TOKEN_FILE: cannot read .*missing \(ENOENT\)/);
    await secret('short', 'short');
    expect(() => loadConfig({ API_TOKEN_FILE: path.join(dir, 'short') })).toThrow('API_TOKEN (from API_TOKEN_FILE): must be at least 16 characters');
  });

  it('a password both in a URL and in a file, or a password file for a catalogue that is a CSV, is refused at start-up', async () => {
    const file = await secret('pw', 'x');
    expect(() => loadConfig({ WAREHOUSE_URL: 'postgres://u:inline@127.0.0.1/db', WAREHOUSE_PASSWORD_FILE: file })).toThrow(
      'WAREHOUSE_URL carries a password and WAREHOUSE_PASSWORD_FILE is set: keep one',
    );
    expect(() => loadConfig({ USERS_PASSWORD_FILE: file })).toThrow('USERS_PASSWORD_FILE is set, but USERS_URL is not a postgres:// URL');
    expect(() => loadConfig({ REDIS_URL: 'redis://:inline@127.0.0.1:6379', REDIS_PASSWORD_FILE: file })).toThrow('REDIS_URL carries a password');
  });

  describe('PostgreSQL: the warehouse and the RDS catalogue, password rotated', () => {
    let server: PrivatePostgres;
    const role = 'loader';
    const admin = () => new pg.Client({ connectionString: server.url('admin', 'admin-password') });
    const sql = async (statement: string) => {
      const client = admin();
      await client.connect();
      try {
        await client.query(statement);
      } finally {
        await client.end();
      }
    };

    beforeAll(async () => {
      server = await startPrivatePostgres('admin-password');
      await sql(`CREATE ROLE ${role} LOGIN PASSWORD 'first-password'`);
      await sql(`CREATE DATABASE musicflow OWNER ${role}`);
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
    });

    const withoutPassword = (database: string) => server.url(role, 'unused', database).replace(':unused@', '@');

    it('the warehouse reads WAREHOUSE_PASSWORD_FILE for each new connection: after a rotation, new sessions use the new password', async () => {
      const file = await secret('warehouse-password', 'first-password');
      const config = loadConfig({ WAREHOUSE_URL: withoutPassword('musicflow'), WAREHOUSE_PASSWORD_FILE: file });
      const warehouse = await Warehouse.connect(postgresTarget(config, 'WAREHOUSE_URL'));
      try {
        await warehouse.ping();
        // The rotation: the server's password changes and every session is cut, so the pool must connect again.
        await sql(`ALTER ROLE ${role} PASSWORD 'second-password'`);
        await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '${role}'`);
        await warehouse.ping().catch(() => undefined); // the cut session's error
        const stale = await warehouse.ping().catch((e: unknown) => e);
        expect((stale as { code?: string }).code).toBe('28P01'); // the file still holds the old password

        await secret('warehouse-password', 'second-password');
        await warehouse.ping();
        expect(await warehouse.query('SELECT current_user AS who')).toEqual([{ who: role }]);
      } finally {
        await warehouse.close();
      }
    });

    it('a wrong password from the file is explained naming WAREHOUSE_PASSWORD_FILE, never showing it', async () => {
      const file = await secret('wrong-password', 'not-the-password');
      const config = loadConfig({ WAREHOUSE_URL: withoutPassword('musicflow'), WAREHOUSE_PASSWORD_FILE: file });
      const err = await Warehouse.connect(postgresTarget(config, 'WAREHOUSE_URL')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WarehouseConnectionError);
      expect((err as Error).message).toContain(`fix the user in WAREHOUSE_URL and the password in WAREHOUSE_PASSWORD_FILE`);
      expect((err as Error).message).not.toContain('not-the-password');
    });

    it('the RDS catalogue reads USERS_PASSWORD_FILE for each read, and only for the configured database', async () => {
      await sql(`ALTER ROLE ${role} PASSWORD 'third-password'`);
      const database = uniqueName('rds');
      await sql(`CREATE DATABASE ${database} OWNER ${role}`);
      const owner = new pg.Client({ connectionString: server.url(role, 'third-password', database) });
      await owner.connect();
      await owner.query(`CREATE TABLE users (user_id INTEGER, user_name TEXT); INSERT INTO users VALUES (1, 'ada'), (2, 'bob')`);
      await owner.end();

      const url = withoutPassword(database);
      const file = await secret('users-password', 'third-password');
      const config = loadConfig({ USERS_URL: url, USERS_PASSWORD_FILE: file });
      const store = createObjectStore({ forcePathStyle: false, checksums: 'WHEN_SUPPORTED' });
      const read = async (target = catalogueTarget(config, 'users', url)) => {
        const ids: (string | undefined)[] = [];
        for await (const batch of readCatalogueSource(store, target, 'users', ['user_id'])) for (const row of batch) ids.push(row.values.user_id);
        return ids.sort();
      };
      expect(await read()).toEqual(['1', '2']);

      await sql(`ALTER ROLE ${role} PASSWORD 'fourth-password'`);
      await expect(read()).rejects.toThrow(/authentication failed .*the password in USERS_PASSWORD_FILE/s);
      await secret('users-password', 'fourth-password');
      expect(await read()).toEqual(['1', '2']);

      // A database a run names itself never gets the configured password.
      const other = catalogueTarget(config, 'users', withoutPassword('musicflow'));
      expect(other.passwordFile).toBeUndefined();
      expect(other.setting).toBe("the run's users source");
      await store.close();
    });
  });

  describe('Redis: requirepass changed at run time', () => {
    let server: PrivateRedis;

    beforeAll(async () => {
      server = await startPrivateRedis({ password: 'first-redis-password' });
    }, 30_000);
    afterAll(async () => {
      await server?.stop();
    });

    it('connections and the workers’ blocking connections read REDIS_PASSWORD_FILE again when they reconnect', async () => {
      const file = await secret('redis-password', 'first-redis-password');
      const config = loadConfig({ REDIS_URL: `redis://127.0.0.1:${server.port}`, REDIS_PASSWORD_FILE: file });
      const connection = redisConnection(config, 'worker');
      const workerConnection = redisConnection(config, 'worker');
      connection.on('error', () => undefined);
      workerConnection.on('error', () => undefined);
      const name = uniqueName('rotation');
      const queue = new Queue(name, { connection });
      const processed: string[] = [];
      const worker = new Worker(
        name,
        async (job) => {
          processed.push(job.name);
        },
        { connection: workerConnection },
      );
      worker.on('error', () => undefined);
      try {
        await queue.add('before', {});
        await expect.poll(() => processed, { timeout: 10_000 }).toEqual(['before']);

        // The rotation: the server's password changes, the file follows, and every connection is cut.
        await connection.config('SET', 'requirepass', 'second-redis-password');
        await secret('redis-password', 'second-redis-password');
        await connection.client('KILL', 'TYPE', 'normal', 'SKIPME', 'no').catch(() => undefined);

        await queue.add('after', {});
        await expect.poll(() => processed, { timeout: 20_000 }).toEqual(['before', 'after']);
        expect(await connection.ping()).toBe('PONG');
      } finally {
        await worker.close();
        await queue.close();
        connection.disconnect();
        workerConnection.disconnect();
      }
    });
  });
});
