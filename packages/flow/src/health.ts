/**
 * Whether a run can move: for each stage with jobs of the run ready to run,
 * which workers consume its queue (BullMQ `Queue.getWorkers`: the Redis
 * connections a Worker names `<prefix>:<queue>:w:<host:pid>`), jobs taken by a
 * worker that is gone, and jobs BullMQ found stalled. A SIGKILLed process's
 * connections close with it, so its absence shows at once; a job it held stays
 * `active` until a live worker's stalled checker hands it back (after
 * `lockDuration`, 30 s), which no one does while every worker is gone.
 */
import type { Job, Queue } from 'bullmq';
import type { RedisClient } from './redis.ts';
import { isJobKind, JOB_KINDS, QUEUES, STAGES, type JobKind, type Stage } from '@musicflow/contracts';
import { readRunJobs } from './progress.ts';
import type { PipelineQueues } from './queues.ts';

/** How long a stage may go without a worker before a warning: a worker that restarts comes back well within it. */
export const NO_WORKER_GRACE_MS = 15_000;

export interface StageHealth {
  stage: Stage;
  queue: string;
  /** Jobs of the run that this stage's workers could run now: waiting, retrying, or active. */
  pending: number;
  /** Names (`host:pid`) of the workers consuming the queue. */
  workers: string[];
  /** With no worker: since when (ms epoch) the run's jobs have waited for one. */
  noWorkerSince?: number;
}

export interface OrphanedJob {
  jobId: string;
  stage: Stage;
  /** The worker that took it and is no longer connected. */
  worker: string;
  /** Start of the attempt its worker abandoned (ms epoch). */
  since: number;
}

export interface StalledJob {
  jobId: string;
  stage: Stage;
  /** Times BullMQ found the job's lock expired and handed it back (a worker died or starved mid-job). */
  stalledCount: number;
}

/** An active job whose worker is still connected as far as Redis knows, but has stopped renewing the job's lock. */
export interface UnreachableJob {
  jobId: string;
  stage: Stage;
  worker: string;
  /** How long the lock has gone without renewal (the lock's duration once it has lapsed: at least that). */
  unrenewedMs: number;
  lapsed: boolean;
}

export interface RunHealth {
  checkedAt: number;
  /** Stages with pending jobs of the run only. */
  stages: StageHealth[];
  orphaned: OrphanedJob[];
  /** Jobs held by a worker that stopped renewing their lock: its host cut off, or the process stuck. */
  unreachable: UnreachableJob[];
  stalled: StalledJob[];
  /** One line per problem, for people: empty when the run can move. */
  warnings: string[];
}

/**
 * When each queue was last seen with a worker, per PipelineQueues (one per
 * process): "no worker for N s" then counts from the moment the workers went,
 * as this process saw it, rather than from when the job became ready.
 */
const lastSeenWithWorkers = new WeakMap<PipelineQueues, Map<Stage, number>>();

/** Distinct names (`host:pid`) of the workers consuming a queue. */
export async function readQueueWorkers(queue: Queue): Promise<string[]> {
  const marker = `${queue.opts.prefix ?? 'bull'}:`.length;
  const names = (await queue.getWorkers()).map((w) => {
    const raw = String(w.rawname ?? '');
    const at = raw.indexOf(':w:', marker);
    return at < 0 ? '(unnamed)' : raw.slice(at + 3);
  });
  return [...new Set(names)].sort();
}

/** Records which stages have workers now, with when each was last seen with one by this process. */
async function observeWorkers(queues: PipelineQueues, stages: readonly Stage[], now: number) {
  let seen = lastSeenWithWorkers.get(queues);
  if (!seen) lastSeenWithWorkers.set(queues, (seen = new Map()));
  const out = new Map<Stage, { workers: string[]; lastSeen?: number }>();
  await Promise.all(
    stages.map(async (stage) => {
      const workers = await readQueueWorkers(queues.queues[stage]);
      if (workers.length) seen.set(stage, now);
      out.set(stage, { workers, lastSeen: seen.get(stage) });
    }),
  );
  return out;
}

/** Active jobs of a queue whose worker (`processedBy`) is not among `workers`: nobody renews their lock. */
export async function readOrphanedJobs(queue: Queue, workers: readonly string[]): Promise<Job[]> {
  const live = new Set(workers);
  return (await queue.getJobs(['active'])).filter((j) => j.processedBy && !live.has(j.processedBy));
}

/**
 * A lock (JOB_LOCK_MS, the workers' `lockDuration`) not renewed for this share
 * of its length missed a renewal (due at half of it, checked every quarter):
 * more than an event-loop stall.
 */
const UNRENEWED_AFTER = 2 / 3;

/**
 * Active jobs among `jobs` whose lock (`lockMs`, the JOB_LOCK_MS setting)
 * went unrenewed for UNRENEWED_AFTER of it or has lapsed. This is what shows a worker on a host cut off from Redis:
 * Redis keeps a vanished host's connections open until `tcp-keepalive`
 * (300 s) finds them dead, so the worker still counts as connected
 * (`getWorkers`), but its lock renewals stop at once.
 */
export async function readUnrenewedLocks(queue: Queue, jobs: readonly Job[], lockMs: number): Promise<{ job: Job; unrenewedMs: number; lapsed: boolean }[]> {
  const started = jobs.filter((j) => j.processedOn && !j.finishedOn);
  if (!started.length) return [];
  // musicflow's queues are built on its own ioredis client (PipelineQueues): one server or a cluster.
  const client = queue.opts.connection as RedisClient;
  const ttls = await Promise.all(started.map((j) => client.pttl(`${queue.toKey(j.id!)}:lock`)));
  const out: { job: Job; unrenewedMs: number; lapsed: boolean }[] = [];
  for (const [i, job] of started.entries()) {
    const ttl = ttls[i]!;
    // -2: no lock. Also true of a job waiting for a retry or just finished: those are not active.
    const unrenewedMs = ttl < 0 ? lockMs : lockMs - ttl;
    if (unrenewedMs >= lockMs * UNRENEWED_AFTER && (await job.getState()) === 'active') out.push({ job, unrenewedMs, lapsed: ttl < 0 });
  }
  return out;
}

const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`;
export const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * The health of one run, from its flow tree (`jobs`, if the caller read them
 * already). A job is pending when it is unfinished and none of its children
 * is: a parent waiting for its children waits on their queue, not its own.
 */
export async function readRunHealth(
  queues: PipelineQueues,
  runId: string,
  /** `lockMs`: the JOB_LOCK_MS setting. */
  options: { lockMs: number; jobs?: Job[]; graceMs?: number; now?: number },
): Promise<RunHealth> {
  const graceMs = options.graceMs ?? NO_WORKER_GRACE_MS;
  const jobs = options.jobs ?? (await readRunJobs(queues, runId).catch(() => []));
  // After the read: a job that became ready during it is not ready "in the future".
  const now = options.now ?? Date.now();
  const unfinished = jobs.filter((j) => !j.finishedOn && isJobKind(j.name));
  const waitingOnChildren = new Set(unfinished.map((j) => j.parent?.id).filter(Boolean));
  const pending = unfinished.filter((j) => !waitingOnChildren.has(j.id));

  const byStage = new Map<Stage, Job[]>();
  for (const job of pending) {
    const stage = JOB_KINDS[job.name as JobKind].stage;
    const list = byStage.get(stage);
    if (list) list.push(job);
    else byStage.set(stage, [job]);
  }
  const finishedChildAt = new Map<string, number>();
  for (const j of jobs) if (j.parent?.id && j.finishedOn) finishedChildAt.set(j.parent.id, Math.max(finishedChildAt.get(j.parent.id) ?? 0, j.finishedOn));
  // When a job became ready: added, last attempt started (a retry), or its last child finished.
  const readyAt = (j: Job) => Math.max(j.timestamp, j.processedOn ?? 0, finishedChildAt.get(j.id!) ?? 0);

  const presence = await observeWorkers(queues, [...byStage.keys()], now);
  const health: RunHealth = { checkedAt: now, stages: [], orphaned: [], unreachable: [], stalled: [], warnings: [] };
  for (const stage of STAGES) {
    const stageJobs = byStage.get(stage);
    if (!stageJobs) continue;
    const { workers, lastSeen } = presence.get(stage)!;
    const entry: StageHealth = { stage, queue: QUEUES[stage], pending: stageJobs.length, workers };
    if (!workers.length) entry.noWorkerSince = Math.max(lastSeen ?? 0, Math.min(...stageJobs.map(readyAt)));
    health.stages.push(entry);

    // A job started by a worker that is no longer connected (its state read only for those: few).
    const live = new Set(workers);
    for (const job of stageJobs) {
      if (job.processedOn && job.processedBy && !live.has(job.processedBy) && (await job.getState()) === 'active') {
        health.orphaned.push({ jobId: job.id!, stage, worker: job.processedBy, since: job.processedOn });
      }
      if (job.stalledCounter > 0) health.stalled.push({ jobId: job.id!, stage, stalledCount: job.stalledCounter });
    }
    const orphaned = new Set(health.orphaned.map((o) => o.jobId));
    for (const { job, unrenewedMs, lapsed } of await readUnrenewedLocks(queues.queues[stage], stageJobs, options.lockMs)) {
      if (!orphaned.has(job.id!)) health.unreachable.push({ jobId: job.id!, stage, worker: job.processedBy ?? '(unknown)', unrenewedMs, lapsed });
    }
  }
  health.warnings = healthWarnings(health, now, graceMs, options.lockMs);
  return health;
}

/** The lines `run --wait` prints and the API returns. */
function healthWarnings(health: RunHealth, now: number, graceMs: number, lockMs: number): string[] {
  const lines: string[] = [];
  for (const s of health.stages) {
    if (s.noWorkerSince === undefined || now - s.noWorkerSince < graceMs) continue;
    lines.push(
      `no worker on queue ${s.queue} for ${seconds(now - s.noWorkerSince)} (${plural(s.pending, 'job')} of this run waiting): ` +
        `start one with musicflow start ${s.queue}`,
    );
  }
  for (const o of health.orphaned) {
    if (now - o.since < graceMs) continue;
    lines.push(
      `job ${o.jobId} was taken by worker ${o.worker}, which is gone: a live ${QUEUES[o.stage]} worker hands it back ` +
        `once its lock expires (${seconds(lockMs)})`,
    );
  }
  for (const u of health.unreachable) {
    lines.push(
      `job ${u.jobId} is held by worker ${u.worker}, which has not renewed its lock for ${u.lapsed ? 'over ' : ''}${seconds(u.unrenewedMs)} ` +
        `(its host unreachable, or the process stuck): a live ${QUEUES[u.stage]} worker takes it over once the lock lapses ` +
        `(${seconds(lockMs)}), and the late attempt's result is refused`,
    );
  }
  for (const s of health.stalled) {
    lines.push(`job ${s.jobId} stalled ${plural(s.stalledCount, 'time')} (its worker died or was starved mid-job): it runs again`);
  }
  return lines;
}
