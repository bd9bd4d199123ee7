import fs from 'node:fs';
import { Redis, type Callback, type RedisOptions } from 'ioredis';
import { certificateProblem, explainCertificate, readSecretFile, redactUrl, type Config } from '@musicflow/config';

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

/**
 * What a Redis connection failure means and the fix, naming the setting: a
 * certificate REDIS_CA_FILE does not trust, a plaintext client at a TLS-only
 * server (it hangs up without a word) or the reverse, a refused password.
 */
export function explainRedisError(settings: RedisSecuritySettings, err: unknown): string {
  const where = `Redis at ${redactUrl(settings.REDIS_URL)}`;
  const { code, message = String(err) } = (err ?? {}) as { code?: string; message?: string };
  const tls = settings.REDIS_URL.startsWith('rediss://');
  const certificate = certificateProblem(err);
  if (certificate) return `${where}: TLS refused (${message}): ${explainCertificate(certificate, 'REDIS_CA_FILE')}`;
  if (/WRONGPASS|NOAUTH|invalid password|invalid username-password/i.test(message)) {
    const fix = settings.REDIS_PASSWORD_FILE ? 'the password in REDIS_PASSWORD_FILE (and the user in REDIS_URL)' : 'the user and password in REDIS_URL';
    return `${where} refused the credentials (${message}): fix ${fix}`;
  }
  if (!tls && (/Connection is closed|socket hang up/i.test(message) || code === 'ECONNRESET')) {
    return `${where} closed the connection without answering (${message}): it may accept TLS only: use rediss:// in REDIS_URL (and REDIS_CA_FILE for a private CA)`;
  }
  if (tls && (/SSL|TLS|wrong version number|before secure TLS connection/i.test(message) || code === 'ECONNRESET')) {
    return `${where}: no TLS handshake (${message}): the server may not speak TLS on this port: use its TLS port, or redis:// in REDIS_URL where plaintext is acceptable`;
  }
  return `${where} is not reachable (${message}${code && !message.includes(code) ? `, ${code}` : ''})`;
}
