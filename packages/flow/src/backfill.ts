import pMap from 'p-map';
import type { Job } from 'bullmq';
import { jobIds, type BackfillJob, type BackfillSpec, type RunStatus } from '@musicflow/contracts';
import type { Config } from '@musicflow/config';
import { lakePartsIn, openLakePart } from '@musicflow/lake';
import type { ObjectStore } from '@musicflow/storage';
import { loadedDatesIn, type Warehouse } from '@musicflow/warehouse';
import { runsEnded } from './attempt.ts';
import { cancelRun, isRunCancelled, markCancelled } from './cancel.ts';
import { readRunProgress } from './progress.ts';
import { jobOptions, type PipelineQueues } from './queues.ts';
import { newRunId } from './start-run.ts';

/** How long a backfill's driver waits, at most, before it looks again for a finished run (the loader wakes it sooner). */
export const BACKFILL_RECHECK_MS = 5_000;

/** Part footers read at once while planning: a range of days of many small files is mostly waiting on the store. */
const FOOTER_CONCURRENCY = 16;

export interface PlannedDate {
  listenDate: string;
  /** Lake parts of the date, and the events they hold (duplicates included: the rows a recompute reads). */
  parts: number;
  events: number;
  /** When the date's KPIs were last loaded; absent when the warehouse has none. */
  loadedAt?: string;
  /** When its newest lake part was written, when the store says. */
  lakeWrittenAt?: string;
  /** `missing`: no KPI rows; `stale`: a part written after the last load; `current` otherwise. */
  state: 'missing' | 'stale' | 'current';
  /** Whether `only` takes the date: its KPIs would be inserted (missing) or replaced. */
  selected: boolean;
}

export interface BackfillPlan {
  spec: BackfillSpec;
  dates: PlannedDate[];
  /** The selected dates, in order: what `run` recomputes. */
  selected: string[];
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/**
 * Which of the lake's dates in the range a backfill would recompute, with
 * their parts and events (from the parts' footers) and the warehouse's state
 * of each: the preview `backfill plan` prints and `backfill run` executes.
 */
export async function planBackfill(store: ObjectStore, db: Warehouse, lake: string, spec: BackfillSpec): Promise<BackfillPlan> {
  const [parts, loaded] = await Promise.all([lakePartsIn(store, lake, spec), loadedDatesIn(db, spec.from, spec.to)]);
  const rows = await pMap(parts, async (p) => ({ ...p, rows: (await openLakePart(store, p.url)).rows }), { concurrency: FOOTER_CONCURRENCY });
  const byDate = new Map<string, typeof rows>();
  for (const part of rows) byDate.set(part.listenDate, [...(byDate.get(part.listenDate) ?? []), part]);
  const dates = [...byDate.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([listenDate, dateParts]): PlannedDate => {
      const loadedAt = loaded.get(listenDate);
      const written = dateParts.map((p) => p.modifiedAt).filter((m): m is number => m !== undefined);
      const lakeWrittenAt = written.length ? Math.max(...written) : undefined;
      const state = !loadedAt ? 'missing' : lakeWrittenAt !== undefined && lakeWrittenAt > loadedAt.getTime() ? 'stale' : 'current';
      return {
        listenDate,
        parts: dateParts.length,
        events: dateParts.reduce((n, p) => n + p.rows, 0),
        loadedAt: loadedAt?.toISOString(),
        lakeWrittenAt: iso(lakeWrittenAt),
        state,
        selected: spec.only === 'all' || state === 'missing' || (spec.only === 'stale' && state === 'stale'),
      };
    });
  return { spec, dates, selected: dates.filter((d) => d.selected).map((d) => d.listenDate) };
}

/**
 * How many of a backfill's started runs are still in flight: neither marked
 * ended by the loader (set before the load job completes, so a woken driver
 * sees it) nor with a load job that finished otherwise (failed its retries).
 */
export async function backfillRunsInFlight(queues: PipelineQueues, runIds: readonly string[]): Promise<number> {
  const ended = await runsEnded(queues.connection, queues.prefix, runIds);
  const open = runIds.filter((_, i) => !ended[i]);
  const states = await Promise.all(open.map((runId) => queues.queues.load.getJobState(jobIds.load(runId))));
  return states.filter((state) => state !== 'completed' && state !== 'failed').length;
}

/** Wakes the backfill driver waiting on a run that just ended, so its next date starts now. */
export async function wakeBackfill(queues: PipelineQueues, loadJob: Job): Promise<void> {
  const driverId = loadJob.parent?.id;
  if (!driverId?.startsWith(jobIds.backfill(''))) return;
  // Not delayed (still active, or waiting for its last runs): it looks again by itself.
  await (await queues.queues.load.getJob(driverId))?.promote().catch(() => undefined);
}

/** Backfills by creation time, so they can be listed without scanning the loader queue. */
const indexKey = (prefix: string) => `${prefix}:backfills`;

/** Enqueues a backfill's driver over the dates a plan selected (or that an earlier backfill left undone). */
export async function startBackfill(
  config: Config,
  queues: PipelineQueues,
  spec: BackfillSpec,
  dates: string[],
  resumeOf?: string,
): Promise<{ backfillId: string }> {
  const backfillId = `bf-${newRunId()}`;
  const createdAt = new Date();
  const data: BackfillJob = { backfillId, spec, createdAt: createdAt.toISOString(), dates, started: 0, resumeOf };
  await queues.queues.load.add('backfill', data, { ...jobOptions(config), jobId: jobIds.backfill(backfillId) });
  await queues.connection.zadd(indexKey(queues.prefix), createdAt.getTime(), backfillId);
  return { backfillId };
}

export type BackfillState = 'queued' | 'running' | 'cancelling' | 'cancelled' | 'succeeded' | 'partial' | 'failed';
export type BackfillDateStatus = RunStatus | 'pending' | 'unknown';

export interface BackfillView {
  backfillId: string;
  state: BackfillState;
  spec: BackfillSpec;
  createdAt: string;
  resumeOf?: string;
  /** Every date with its run and that run's status; `pending` until its run is started. */
  dates: { listenDate: string; runId?: string; status: BackfillDateStatus }[];
  error?: string;
}

async function dateStatus(queues: PipelineQueues, runId: string): Promise<BackfillDateStatus> {
  const progress = await readRunProgress(queues, runId);
  if (progress.state === 'completed') return progress.report?.status ?? 'failed';
  return progress.state === 'unknown' ? 'unknown' : progress.state;
}

/** A backfill and the status of each of its dates, from its driver job and its dates' runs. */
export async function readBackfill(queues: PipelineQueues, backfillId: string): Promise<BackfillView | undefined> {
  const job = await queues.queues.load.getJob(jobIds.backfill(backfillId));
  if (!job) return undefined;
  const data = job.data as BackfillJob;
  const [jobState, cancelled] = await Promise.all([job.getState(), isRunCancelled(queues, backfillId)]);
  const dates = await pMap(
    data.dates,
    async (listenDate, i) => {
      if (i >= data.started) return { listenDate, status: 'pending' as const };
      const runId = jobIds.backfillRun(backfillId, listenDate);
      return { listenDate, runId, status: await dateStatus(queues, runId) };
    },
    { concurrency: 8 },
  );
  const finished = jobState === 'completed' || jobState === 'failed';
  const state: BackfillState =
    jobState === 'failed'
      ? 'failed'
      : cancelled
        ? finished
          ? 'cancelled'
          : 'cancelling'
        : jobState === 'completed'
          ? dates.every((d) => d.status === 'succeeded')
            ? 'succeeded'
            : 'partial'
          : data.started === 0 && (jobState === 'waiting' || jobState === 'delayed' || jobState === 'prioritized')
            ? 'queued'
            : 'running';
  return { backfillId, state, spec: data.spec, createdAt: data.createdAt, resumeOf: data.resumeOf, dates, error: job.failedReason || undefined };
}

/** The newest backfills first, one page. */
export async function listBackfills(queues: PipelineQueues, limit: number, offset: number): Promise<{ total: number; backfills: BackfillView[] }> {
  const key = indexKey(queues.prefix);
  const [total, ids] = await Promise.all([queues.connection.zcard(key), queues.connection.zrevrange(key, offset, offset + limit - 1)]);
  const views = await Promise.all(ids.map((id) => readBackfill(queues, id)));
  return { total, backfills: views.filter((v): v is BackfillView => v !== undefined) };
}

/**
 * Cancels a backfill: no further date starts, and the runs of its dates in
 * flight are cancelled (those already committing finish). Dates done stay done.
 */
export async function cancelBackfill(queues: PipelineQueues, backfillId: string): Promise<'cancelled' | 'finished' | 'unknown'> {
  const view = await readBackfill(queues, backfillId);
  if (!view) return 'unknown';
  if (view.state !== 'queued' && view.state !== 'running' && view.state !== 'cancelling') return 'finished';
  await markCancelled(queues, backfillId);
  for (const date of view.dates) {
    if (date.runId && (date.status === 'queued' || date.status === 'running')) await cancelRun(queues, date.runId);
  }
  return 'cancelled';
}

/** A new backfill over the dates a cancelled, partial or failed one did not bring to `succeeded`. */
export async function resumeBackfill(config: Config, queues: PipelineQueues, backfillId: string): Promise<{ backfillId: string; dates: string[] } | string> {
  const view = await readBackfill(queues, backfillId);
  if (!view) return `backfill ${backfillId} not found`;
  if (view.state !== 'cancelled' && view.state !== 'partial' && view.state !== 'failed')
    return `backfill ${backfillId} is ${view.state}: only a cancelled, partial or failed backfill can be resumed`;
  const dates = view.dates.filter((d) => d.status !== 'succeeded').map((d) => d.listenDate);
  const started = await startBackfill(config, queues, view.spec, dates, backfillId);
  return { ...started, dates };
}
