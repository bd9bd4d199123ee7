/**
 * Run status as the API shows it: live from the run's BullMQ flow while its
 * jobs are kept (a week), else from `analytics.etl_runs`. Connection-string
 * passwords in sources are hidden in everything returned.
 */
import type { Job } from 'bullmq';
import { redactDeep, redactUrl } from '@musicflow/config';
import { jobIds, runContextSchema, type RunContext, type RunReport, type Sources } from '@musicflow/contracts';
import { readRunHealth, readRunProgress, type RunHealth } from '@musicflow/flow';
import type { ApiDeps } from './deps.ts';
import type { RunDetail, RunSummary } from './schemas.ts';

const IN_FLIGHT = ['waiting-children', 'waiting', 'active', 'delayed', 'prioritized'] as const;

export const redactSources = (s: Sources): Sources => ({ streams: redactUrl(s.streams), users: redactUrl(s.users), songs: redactUrl(s.songs) });

function runContextOf(job: Job | undefined): RunContext | undefined {
  const parsed = runContextSchema.safeParse((job?.data as { run?: unknown } | undefined)?.run);
  return parsed.success ? parsed.data : undefined;
}

const iso = (ms: number) => new Date(ms).toISOString();

function healthView(h: RunHealth): NonNullable<RunDetail['health']> {
  return {
    checkedAt: iso(h.checkedAt),
    stages: h.stages.map(({ noWorkerSince, ...s }) =>
      noWorkerSince === undefined
        ? s
        : { ...s, noWorkerSince: iso(noWorkerSince), noWorkerSeconds: Math.max(0, Math.round((h.checkedAt - noWorkerSince) / 1000)) },
    ),
    orphaned: h.orphaned.map((o) => ({ ...o, since: iso(o.since) })),
    unreachable: h.unreachable.map(({ unrenewedMs, ...u }) => ({ ...u, unrenewedSeconds: Math.round(unrenewedMs / 1000) })),
    stalled: h.stalled,
    warnings: h.warnings,
  };
}

export interface RunLookup {
  detail: RunDetail;
  /** Unredacted sources, for a retry. */
  sources?: Sources;
}

export async function findRun(deps: ApiDeps, runId: string): Promise<RunLookup | undefined> {
  const progress = await readRunProgress(deps.queues, runId);
  if (progress.state === 'unknown') {
    const report = await (await deps.warehouse()).getRun(runId);
    if (!report) return undefined;
    return {
      detail: {
        runId,
        trigger: report.trigger,
        status: report.status,
        startedAt: report.startedAt,
        finishedAt: report.finishedAt,
        sources: redactSources(report.sources),
        stages: null,
        report: redactDeep(report),
        error: redactDeep(report.error),
      },
      sources: report.sources,
    };
  }
  const run = runContextOf(await deps.queues.queues.load.getJob(jobIds.load(runId)));
  const report = progress.report;
  const status =
    progress.state === 'completed'
      ? (report?.status ?? 'failed')
      : progress.state === 'failed'
        ? 'failed'
        : progress.state === 'running'
          ? 'running'
          : 'queued';
  const health =
    status === 'queued' || status === 'running' ? healthView(await readRunHealth(deps.queues, runId, { lockMs: deps.config.JOB_LOCK_MS })) : undefined;
  return {
    detail: {
      runId,
      trigger: run?.trigger ?? report?.trigger,
      status,
      startedAt: run?.startedAt ?? report?.startedAt,
      finishedAt: report?.finishedAt,
      sources: run ? redactSources(run.sources) : undefined,
      stages: progress.stages,
      report: report ? redactDeep(report) : undefined,
      error: redactDeep(report?.error ?? progress.error),
      health,
    },
    sources: run?.sources ?? report?.sources,
  };
}

/** Queued or running runs, newest first, from the load jobs waiting in Redis. */
async function inFlightRuns(deps: ApiDeps): Promise<RunSummary[]> {
  const jobs = await deps.queues.queues.load.getJobs([...IN_FLIGHT], 0, 999);
  const runs = jobs.map(runContextOf).filter((r): r is RunContext => r !== undefined);
  const summaries = await Promise.all(
    runs.map(async (run): Promise<RunSummary> => {
      const extract = await deps.queues.queues.extract.getJobState(jobIds.plan(run.runId));
      const queued = extract === 'waiting' || extract === 'delayed' || extract === 'prioritized' || extract === 'waiting-children';
      return { runId: run.runId, trigger: run.trigger, status: queued ? 'queued' : 'running', startedAt: run.startedAt };
    }),
  );
  return summaries.sort((a, b) => b.startedAt.localeCompare(a.startedAt) || b.runId.localeCompare(a.runId));
}

const summaryOf = (r: RunReport): RunSummary => ({
  runId: r.runId,
  trigger: r.trigger,
  status: r.status,
  startedAt: r.startedAt,
  finishedAt: r.finishedAt,
  files: { total: r.files.total, loaded: r.files.loaded, rejected: r.files.rejected },
  rows: { read: r.rows.read, valid: r.rows.valid, rejected: r.rows.rejected, duplicate: r.rows.duplicate },
  error: r.error,
});

/**
 * Runs newest first: queued and running runs (from Redis) come before finished
 * ones (from the warehouse), and one offset/limit pages over both.
 */
export async function listRuns(deps: ApiDeps, limit: number, offset: number): Promise<{ total: number; runs: RunSummary[] }> {
  const active = await inFlightRuns(deps);
  const page = active.slice(offset, offset + limit);
  const finished = await (await deps.warehouse()).listRuns(Math.max(0, limit - page.length), Math.max(0, offset - active.length));
  // A run that ends between the two reads could show twice: keep its first (live) entry.
  const seen = new Set(page.map((r) => r.runId));
  const rest = limit - page.length > 0 ? finished.runs.filter((r) => !seen.has(r.runId)).map(summaryOf) : [];
  return { total: active.length + finished.total, runs: [...page, ...rest] };
}
