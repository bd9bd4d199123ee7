import type { Config, Logger } from '@musicflow/config';
import { isStreamFile } from '@musicflow/contracts';
import type { ObjectStore } from '@musicflow/storage';
import type { PipelineQueues } from './queues.ts';
import { startRun } from './start-run.ts';

/**
 * The landing sensor's memory in Redis, shared by every replica: each stream
 * file seen (`<fingerprint> <since ms> <handed to a run: 0|1>`), and what the
 * last look found (`checkedAt`, `files`, `waiting`, `lastRunId`, `lastRunAt`).
 */
const seenKey = (prefix: string) => `${prefix}:sensor:seen`;
const statusKey = (prefix: string) => `${prefix}:sensor:status`;
const lockKey = (prefix: string) => `${prefix}:sensor:lock`;

export interface SensorStatus {
  checkedAt?: number;
  /** Stream files under the prefix at the last look. */
  files?: number;
  /** Of those, new or changed ones no run has taken yet. */
  waiting?: number;
  lastRunId?: string;
  lastRunAt?: number;
}

/**
 * One look at STREAMS_URL: remembers each stream file's fingerprint and since
 * when it has not changed; when some file no run has taken is there and none
 * of them changed for SENSOR_QUIET, starts a run (trigger `sensor`) and marks
 * them taken. A run over the same sources already active is not doubled
 * (startRun): the files wait for the next look. Rejected files stay in place
 * but are taken: only a new version of them starts another run.
 */
export async function senseLandings(config: Config, queues: PipelineQueues, store: ObjectStore, log: Logger, now = Date.now()): Promise<SensorStatus> {
  const redis = queues.connection;
  const seen = await redis.hgetall(seenKey(queues.prefix));
  const listed = new Map<string, string>();
  for await (const obj of store.list(config.STREAMS_URL)) if (isStreamFile(obj.url)) listed.set(obj.url, obj.etag ?? String(obj.size));

  const next: Record<string, string> = {};
  const waiting: string[] = [];
  let newestChange = 0;
  for (const [url, fingerprint] of listed) {
    const [known, since, taken] = (seen[url] ?? '').split(' ');
    const same = known === fingerprint;
    const changedAt = same ? Number(since) : now;
    next[url] = `${fingerprint} ${changedAt} ${same ? taken : '0'}`;
    if (!same || taken !== '1') {
      waiting.push(url);
      newestChange = Math.max(newestChange, changedAt);
    }
  }
  const status: SensorStatus = { checkedAt: now, files: listed.size, waiting: waiting.length };
  if (waiting.length && now - newestChange >= config.SENSOR_QUIET) {
    const started = await startRun(config, queues, { trigger: 'sensor' });
    if (started.created) {
      for (const url of waiting) next[url] = next[url]!.replace(/ [01]$/, ' 1');
      Object.assign(status, { waiting: 0, lastRunId: started.runId, lastRunAt: now });
      log.info({ runId: started.runId, files: waiting.length }, 'landing sensor: new stream files settled, run started');
    }
  }
  const gone = Object.keys(seen).filter((url) => !listed.has(url));
  const tx = redis.multi();
  if (gone.length) tx.hdel(seenKey(queues.prefix), ...gone);
  if (Object.keys(next).length) tx.hset(seenKey(queues.prefix), next);
  tx.hset(statusKey(queues.prefix), Object.fromEntries(Object.entries(status).map(([k, v]) => [k, String(v)])));
  await tx.exec();
  return status;
}

export async function readSensorStatus(queues: PipelineQueues): Promise<SensorStatus> {
  const raw = await queues.connection.hgetall(statusKey(queues.prefix));
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  return { checkedAt: num(raw.checkedAt), files: num(raw.files), waiting: num(raw.waiting), lastRunId: raw.lastRunId, lastRunAt: num(raw.lastRunAt) };
}

/**
 * Runs the sensor every SENSOR_INTERVAL on whichever replica takes the look
 * (a Redis lock that lasts the interval), so the prefix is listed at most once
 * per interval however many replicas run; off when SENSOR_INTERVAL is unset.
 */
export function watchLandings(config: Config, queues: PipelineQueues, store: ObjectStore, log: Logger): { close(): void } {
  const interval = config.SENSOR_INTERVAL;
  if (!interval) return { close: () => undefined };
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    queues.connection
      .set(lockKey(queues.prefix), '1', 'PX', interval, 'NX')
      .then((mine) => mine && senseLandings(config, queues, store, log))
      .catch((err: Error) => log.warn({ err: err.message }, 'landing sensor failed'))
      .finally(() => (running = false));
  }, interval);
  timer.unref();
  return { close: () => clearInterval(timer) };
}
