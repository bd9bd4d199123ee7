import type { CancelWatch } from './cancel.ts';
import type { Job } from 'bullmq';
import { isJobKind, jobIds, JOB_KINDS, QUEUES, STAGES, type RunReport, type Stage } from '@musicflow/contracts';
import type { PipelineQueues } from './queues.ts';

export interface StageProgress {
  total: number;
  completed: number;
  failed: number;
  active: number;
  /** Mean of the jobs' reported percentages, 0-100. */
  percent: number;
  /** Rows handled so far, as the jobs report them. */
  rows: number;
}

export interface RunProgress {
  runId: string;
  state: 'queued' | 'running' | 'completed' | 'failed' | 'unknown';
  stages: Record<Stage, StageProgress>;
  /** The loader's run report once the run has ended. */
  report?: RunReport;
  error?: string;
}

const empty = (): StageProgress => ({ total: 0, completed: 0, failed: 0, active: 0, percent: 0, rows: 0 });

interface JobNodeLike {
  job: Job;
  children?: JobNodeLike[];
}

/** Rows between two progress reports of a job: each is a Redis round trip, and a chunk of small files reports a file at a time. */
const REPORT_EVERY_ROWS = 50_000;

/** What a job reports as it goes (`{ rows, percent }`, read by readRunProgress): every REPORT_EVERY_ROWS rows, and at the end. */
export class RowProgress {
  private nextAt = REPORT_EVERY_ROWS;

  constructor(
    private readonly job: Pick<Job, 'updateProgress'>,
    /** Looked at on every report: a job of a cancelled run stops there. */
    private readonly cancel?: Pick<CancelWatch, 'check' | 'due'>,
  ) {}

  /**
   * A promise only when there is something to wait for, a cancel check or a progress write being due: a chunk
   * of small files reports a file at a time, thousands a second.
   */
  report(rows: number, percent: number): Promise<void> | undefined {
    if (rows < this.nextAt && !this.cancel?.due()) return undefined;
    return this.reportNow(rows, percent);
  }

  private async reportNow(rows: number, percent: number): Promise<void> {
    await this.cancel?.check();
    if (rows < this.nextAt) return;
    this.nextAt = rows + REPORT_EVERY_ROWS;
    await this.job.updateProgress({ rows, percent: Math.min(99, percent) });
  }

  done(rows: number): Promise<void> {
    return this.job.updateProgress({ rows, percent: 100 });
  }
}

/** Every job of a run's flow tree, the loader's first (the bench's timeline reads them too). */
export async function readRunJobs(queues: PipelineQueues, runId: string): Promise<Job[]> {
  const tree = await queues.flows.getFlow({
    id: jobIds.load(runId),
    queueName: QUEUES.load,
    prefix: queues.prefix,
    depth: 5,
    maxChildren: 100_000,
  });
  const jobs: Job[] = [];
  // A finished child removed by retention (JOBS_KEEP_*) while its run still goes is a hole in the tree.
  const visit = (node: JobNodeLike | undefined) => {
    if (!node?.job) return;
    jobs.push(node.job);
    node.children?.forEach(visit);
  };
  visit(tree);
  return jobs;
}

/** Per-stage progress of a run, read from its flow tree (fed by `job.updateProgress`). */
export async function readRunProgress(queues: PipelineQueues, runId: string): Promise<RunProgress> {
  const stages = Object.fromEntries(STAGES.map((s) => [s, empty()])) as Record<Stage, StageProgress>;
  const root = await queues.queues.load.getJob(jobIds.load(runId));
  if (!root) return { runId, state: 'unknown', stages };
  // The state before the tree: a run seen completed then has every job of its tree finished, the loader's included.
  const state = await root.getState();
  for (const job of await readRunJobs(queues, runId)) {
    if (!isJobKind(job.name)) continue;
    const s = stages[JOB_KINDS[job.name].stage];
    const progress = (job.progress ?? 0) as number | { percent?: number; rows?: number };
    const percent = typeof progress === 'number' ? progress : (progress.percent ?? 0);
    s.total++;
    s.rows += typeof progress === 'object' ? (progress.rows ?? 0) : 0;
    if (job.finishedOn && job.failedReason) s.failed++;
    else if (job.finishedOn) s.completed++;
    else if (job.processedOn) s.active++;
    s.percent += job.finishedOn ? 100 : percent;
  }
  for (const s of Object.values(stages)) s.percent = s.total ? s.percent / s.total : 0;

  // `root` was read before its state: if the run ended meanwhile its return value is only in a fresh copy.
  if (state === 'completed') {
    const report = (root.returnvalue ?? (await queues.queues.load.getJob(root.id!))?.returnvalue) as RunReport | undefined;
    return { runId, state, stages, report };
  }
  if (state === 'failed') return { runId, state, stages, error: root.failedReason ?? (await queues.queues.load.getJob(root.id!))?.failedReason };
  const started = STAGES.some((s) => stages[s].completed + stages[s].active + stages[s].failed > 0);
  return { runId, state: started ? 'running' : 'queued', stages };
}
