/**
 * Small inputs for API tests, cut from the sample data so runs take a second or
 * two: stream files of a few hundred events and the catalogue rows they use.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Config } from '@musicflow/config';
import { REDIS_URL, SAMPLE, dirUrl, fileUrl, tempDir } from '../helpers/env.ts';

export interface Bucket {
  root: string;
  streamsDir: string;
  /** Env for testConfig: streams, users, songs, lake and archive in this bucket. */
  env: Record<string, string>;
  /** Adds a stream file. */
  addStream(name: string, text: string): Promise<void>;
  close(): Promise<void>;
}

const lines = async (file: string) => (await fs.readFile(file, 'utf8')).split(/\r?\n/).filter((l) => l.length > 0);

/** Stream events `from`..`to` (data rows) of sample streams1.csv, with header. */
export async function sampleStreams(from: number, to: number): Promise<string> {
  const all = await lines(path.join(SAMPLE, 'streams', 'streams1.csv'));
  return [all[0], ...all.slice(1 + from, 1 + to)].join('\n') + '\n';
}

/** A bucket with `files` stream files of `rowsPerFile` events and a catalogue covering them. */
export async function makeBucket(files = 2, rowsPerFile = 200): Promise<Bucket> {
  const root = await tempDir('musicflow-api-');
  const streamsDir = path.join(root, 'bucket', 'streams');
  await fs.mkdir(streamsDir, { recursive: true });
  const tracks = new Set<string>();
  const users = new Set<string>();
  for (let i = 0; i < files; i++) {
    const text = await sampleStreams(i * rowsPerFile, (i + 1) * rowsPerFile);
    for (const line of text.split('\n').slice(1, -1)) {
      const [user, track] = line.split(',');
      users.add(user!);
      tracks.add(track!);
    }
    await fs.writeFile(path.join(streamsDir, `part-${i + 1}.csv`), text);
  }
  const songs = await lines(path.join(SAMPLE, 'songs.csv'));
  const userRows = await lines(path.join(SAMPLE, 'users.csv'));
  const songsFile = path.join(root, 'bucket', 'songs.csv');
  const usersFile = path.join(root, 'bucket', 'users.csv');
  await fs.writeFile(songsFile, [songs[0], ...songs.slice(1).filter((l) => tracks.has(l.split(',')[1]!))].join('\n') + '\n');
  await fs.writeFile(usersFile, [userRows[0], ...userRows.slice(1).filter((l) => users.has(l.split(',')[0]!))].join('\n') + '\n');
  return {
    root,
    streamsDir,
    env: {
      STREAMS_URL: dirUrl(streamsDir),
      USERS_URL: fileUrl(usersFile),
      SONGS_URL: fileUrl(songsFile),
      LAKE_URL: dirUrl(path.join(root, 'lake')),
      ARCHIVE_URL: dirUrl(path.join(root, 'bucket', 'archive')),
    },
    addStream: (name, text) => fs.writeFile(path.join(streamsDir, name), text),
    close: () => fs.rm(root, { recursive: true, force: true }),
  };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false>, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A copy of the config with some settings changed (what the app reads at build time). */
export const withConfig = (config: Config, change: Partial<Config>): Config => ({ ...config, ...change });

/** Removes the BullMQ keys of a test's queue prefix. */
export async function deleteKeys(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
