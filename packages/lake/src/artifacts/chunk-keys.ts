import type { ObjectStore } from '@musicflow/storage';
import { ONE_SHARD, type CatalogueShard, type RunContext } from '@musicflow/contracts';
import { inShard, UserIdSet } from '@musicflow/ingest';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';

/** A chunk's distinct user and track ids, for the run's catalogue lookup. */
export const CHUNK_KEYS: RunArtifact = {
  path: 'tmp/run=<run>/valid/<chunk>.keys',
  format: 'u32 n, i32[n] user ids, newline-separated track ids (encodeChunkKeys)',
  version: 1,
  writers: ['validate'],
  readers: ['catalogue', 'transform'],
};

/** Writes chunk `chunkId`'s keys (`CleanEventsWriter.keys()`); returns their URL. */
export async function writeChunkKeys(store: ObjectStore, run: RunContext, chunkId: string, keys: Buffer): Promise<string> {
  const url = LAKE_LAYOUT.chunkKeys(run.lake, run.runId, chunkId);
  await store.write(url, keys);
  return url;
}

/**
 * A chunk's keys: the distinct user and track ids of its clean events, which
 * its validator writes beside them, so the catalogue jobs read these and not
 * every event again (that was 1.5-2 s of a 5M-event run, on its critical
 * path, measured). `u32 n | i32[n] user ids | track ids, \n-separated`
 * (a track id has no line break: SPEC 2.1).
 */
export function encodeChunkKeys(users: UserIdSet, trackIds: Uint8Array): Buffer {
  const ids = Int32Array.from(users.values());
  const head = Buffer.alloc(4);
  head.writeUInt32LE(ids.length, 0);
  return Buffer.concat([head, Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength), trackIds]);
}

function decodeChunkKeys(bytes: Buffer, url: string): { userIds: Int32Array; trackIdBytes: Buffer } {
  const n = bytes.length >= 4 ? bytes.readUInt32LE(0) : -1;
  if (n < 0 || bytes.length < 4 + n * 4) throw new Error(`${url}: not a chunk's keys (truncated temporary)`);
  // Copied out: the read's buffer need not be 4-byte aligned.
  const userIds = new Int32Array(n);
  Buffer.from(userIds.buffer).set(bytes.subarray(4, 4 + n * 4));
  return { userIds, trackIdBytes: bytes.subarray(4 + n * 4) };
}

/** The chunk's keys at `url`: its users, and its track ids as `\n`-separated UTF-8. */
export async function readChunkKeys(store: ObjectStore, url: string): Promise<{ userIds: Int32Array; trackIdBytes: Buffer }> {
  return decodeChunkKeys(await store.readBuffer(url), url);
}

/** The distinct user ids of a run's clean events in catalogue shard `shard`, from its chunks' keys. */
export async function readRunUserIds(store: ObjectStore, keysUrls: readonly string[], shard: CatalogueShard = ONE_SHARD): Promise<UserIdSet> {
  const users = new UserIdSet();
  for (const url of keysUrls) for (const id of (await readChunkKeys(store, url)).userIds) if (inShard(id, shard)) users.add(id);
  return users;
}
