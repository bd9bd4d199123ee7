import { createHash, randomBytes } from 'node:crypto';
import { redactSecrets, sourceUrlProblem, type Config } from '@musicflow/config';
import type { FlowJob } from 'bullmq';
import { FLOW_CHILDREN, jobIds, JOB_KINDS, QUEUES, type JobData, type JobKind, type RunContext, type RunTrigger, type Sources } from '@musicflow/contracts';
import { jobOptions, type PipelineQueues } from './queues.ts';
import { assertNoRunCredential, recordedSources, sourceSpelling } from './run-sources.ts';

export interface StartRunOptions {
  trigger: RunTrigger;
  sources?: Partial<Sources>;
  runId?: string;
  /** Only these stream files under the streams prefix (a retry of rejected files). */
  files?: string[];
}

export interface StartedRun {
  runId: string;
  /** False when a run over the same sources was already active: its id is returned instead. */
  created: boolean;
}

export function newRunId(now = new Date()): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/**
 * The sources in one spelling each, so one folder written two ways is one
 * active run; a URL the stores cannot use is refused here, before any job
 * would retry it for its whole budget, and so is a credential of the run's own.
 */
function usableSources(config: Config, given: Sources): Sources {
  for (const [field, url] of Object.entries(given)) {
    const problem = sourceUrlProblem(url);
    if (problem) throw new Error(`the ${field} source ${redactSecrets(url)} ${problem}`);
  }
  const sources = {
    streams: sourceSpelling('streams', given.streams),
    users: sourceSpelling('users', given.users),
    songs: sourceSpelling('songs', given.songs),
  };
  assertNoRunCredential(config, sources);
  return sources;
}

/** The one-active-run key of a set of sources: the starter and the loader see them recorded (redacted) alike. */
const activeKey = (prefix: string, sources: Sources) =>
  `${prefix}:active-run:${createHash('sha256')
    .update(JSON.stringify(recordedSources(sources)))
    .digest('hex')
    .slice(0, 16)}`;

/**
 * Enqueues one run as one BullMQ flow: load ← kpi ← plan. The plan job
 * adds the run's validate and catalogue jobs under itself and its transform
 * jobs under `kpi`, so the lake commit, the KPIs and the load wait for all of them. A run
 * over the same sources as an active run is not started twice.
 */
export async function startRun(config: Config, queues: PipelineQueues, options: StartRunOptions): Promise<StartedRun> {
  const sources = usableSources(config, {
    streams: options.sources?.streams ?? config.STREAMS_URL,
    users: options.sources?.users ?? config.USERS_URL,
    songs: options.sources?.songs ?? config.SONGS_URL,
  });
  const runId = options.runId ?? newRunId();
  const active = await claimActiveRun(queues, activeKey(queues.prefix, sources), runId);
  if (active) return { runId: active, created: false };

  const run = newRunContext(config, runId, options.trigger, sources);
  await addRunFlow(config, queues, run, { kind: 'kpi', data: { run }, children: [{ kind: 'plan', data: { run, files: options.files } }] });
  return { runId, created: true };
}

/** What every job of a new run knows about the run: its sources without their credentials (runSources restores them). */
export function newRunContext(config: Config, runId: string, trigger: RunTrigger, sources: Sources): RunContext {
  return { runId, trigger, startedAt: new Date().toISOString(), sources: recordedSources(sources), lake: config.LAKE_URL, archive: config.ARCHIVE_URL };
}

/** A job of the run's initial flow tree, with the jobs it waits for. */
type FlowNode = { [K in JobKind]: { kind: K; data: JobData<K>; children?: FlowNode[] } }[JobKind];

/**
 * Adds a run's flow in one call (FlowProducer writes the tree atomically):
 * `load` at the root, waiting for `top` (kpi ← plan for an ingest run,
 * recompute for a recompute run). Every job's id derives from the run and
 * its kind; every job but the root lets its parent run when it fails, so the
 * loader always runs: it records failed runs and removes their temporaries.
 */
async function addRunFlow(
  config: Config,
  queues: PipelineQueues,
  run: RunContext,
  top: FlowNode,
  /** A job outside the run that waits for it (a backfill's driver); the run's failure does not fail it: it reports it. */
  parent?: { id: string; queue: string },
): Promise<void> {
  const opts = jobOptions(config);
  const ids: Partial<Record<JobKind, (runId: string) => string>> = { load: jobIds.load, kpi: jobIds.kpi, recompute: jobIds.recompute, plan: jobIds.plan };
  const flowJob = (node: FlowNode, parent: JobKind | undefined): FlowJob => {
    if (parent && !(FLOW_CHILDREN[parent] as readonly JobKind[]).includes(node.kind))
      throw new Error(`a ${parent} job may not wait for a ${node.kind} job (FLOW_CHILDREN)`);
    return {
      name: node.kind,
      queueName: QUEUES[JOB_KINDS[node.kind].stage],
      data: node.data,
      opts: { ...opts, jobId: ids[node.kind]!(run.runId), ...(parent ? { ignoreDependencyOnFailure: true } : {}) },
      children: node.children?.map((child) => flowJob(child, node.kind)),
    };
  };
  const root = flowJob({ kind: 'load', data: { run }, children: [top] }, undefined);
  await queues.flows.add(parent ? { ...root, opts: { ...root.opts, parent, ignoreDependencyOnFailure: true } } : root);
}

/** Replaces the key's value only while it is still `expected`: of two starters that found the same finished run, one wins. */
const REPLACE_IF = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return 0`;

/**
 * Claims the one-active-run key of a set of sources for `runId`, or returns
 * the run that holds it. The key has no expiry, so it cannot lapse while its
 * run lives however long that is: the loader deletes it when the run ends,
 * and a key left by a run that ended otherwise (its load job finished or
 * gone) is taken over.
 */
async function claimActiveRun(queues: PipelineQueues, key: string, runId: string): Promise<string | undefined> {
  for (;;) {
    if (await queues.connection.set(key, runId, 'NX')) return undefined;
    const holder = await queues.connection.get(key);
    if (holder === null) continue;
    const state = await queues.queues.load.getJobState(jobIds.load(holder));
    if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return holder;
    if (Number(await queues.connection.eval(REPLACE_IF, 1, key, holder, runId)) === 1) return undefined;
  }
}

export { activeKey, addRunFlow };
