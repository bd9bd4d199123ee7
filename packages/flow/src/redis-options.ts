import fs from 'node:fs';
import { Redis, type Callback, type RedisOptions } from 'ioredis';
import { readSecretFile, type Config } from '@musicflow/config';

/** The settings every Redis connection takes its TLS and credentials from (a cluster's node connections too). */
export type RedisSecuritySettings = Pick<Config, 'REDIS_URL' | 'REDIS_CA_FILE' | 'REDIS_PASSWORD_FILE'>;

/** `rediss://`: TLS, the server's certificate checked against REDIS_CA_FILE's bundle when set, else Node's public CAs. */
export function redisTlsOptions(settings: RedisSecuritySettings): Pick<RedisOptions, 'tls'> {
  if (!settings.REDIS_URL.startsWith('rediss://')) return {};
  return { tls: settings.REDIS_CA_FILE ? { ca: fs.readFileSync(settings.REDIS_CA_FILE, 'utf8') } : {} };
}

/** REDIS_PASSWORD_FILE's content now, or undefined (the password, if any, is REDIS_URL's). */
export function redisPassword(settings: RedisSecuritySettings): string | undefined {
  return settings.REDIS_PASSWORD_FILE ? readSecretFile(settings.REDIS_PASSWORD_FILE, 'REDIS_PASSWORD_FILE') : undefined;
}

interface PasswordFileOption {
  /** Kept among ioredis' options, so duplicates (BullMQ's blocking connections) read the same file. */
  passwordFile?: RedisSecuritySettings;
}

/**
 * A Redis client that reads REDIS_PASSWORD_FILE before each connection: the
 * first, and every reconnection after a drop, so a rotated password is used
 * without a restart. ioredis reads `options.password` when it connects.
 */
class RedisWithPasswordFile extends Redis {
  override connect(callback?: Callback<void>): Promise<void> {
    const settings = (this.options as PasswordFileOption).passwordFile;
    if (settings) {
      try {
        this.options.password = redisPassword(settings);
      } catch (err) {
        // A file being replaced: this attempt uses the last password, the next reads the file again.
        this.silentEmit('error', err);
      }
    }
    return super.connect(callback);
  }

  override duplicate(override?: Partial<RedisOptions>): Redis {
    return new RedisWithPasswordFile({ ...this.options, ...override });
  }
}

/** A client of the Redis at REDIS_URL with its TLS settings and, with REDIS_PASSWORD_FILE, a password read at each connection. */
export function newRedisClient(settings: RedisSecuritySettings, options: RedisOptions): Redis {
  const security = { ...redisTlsOptions(settings), ...(settings.REDIS_PASSWORD_FILE ? { passwordFile: settings } : {}) };
  return new RedisWithPasswordFile(settings.REDIS_URL, { ...options, ...security });
}
