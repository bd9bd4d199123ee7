import { createHash, randomBytes } from 'node:crypto';
import { normalizeSourceUrl, redactSecrets, sourceUrlProblem, type Config } from '@musicflow/config';
import { jobIds, JOB_KINDS, QUEUES, type JobData, type JobKind, type RunContext, type RunTrigger, type Sources } from '@musicflow/contracts';
import { jobOptions, type PipelineQueues } from './queues.ts';

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
 * would retry it for its whole budget.
 */
function usableSources(given: Sources): Sources {
  for (const [field, url] of Object.entries(given)) {
    const problem = sourceUrlProblem(url);
    if (problem) throw new Error(`the ${field} source ${redactSecrets(url)} ${problem}`);
  }
  const { streams, users, songs } = given;
  const folder = normalizeSourceUrl(streams);
  return { streams: folder.endsWith('/') ? folder : `${folder}/`, users: normalizeSourceUrl(users), songs: normalizeSourceUrl(songs) };
}

const activeKey = (prefix: string, sources: Sources) =>
  `${prefix}:active-run:${createHash('sha256').update(JSON.stringify(sources)).digest('hex').slice(0, 16)}`;

/**
 * Enqueues one run as one BullMQ flow: load ← publish ← plan. The plan job
 * adds the run's validate and catalogue jobs under itself and its transform
 * jobs under `publish`, so publishing and loading wait for all of them. A run
 * over the same sources as an active run is not started twice.
 */
export async function startRun(config: Config, queues: PipelineQueues, options: StartRunOptions): Promise<StartedRun> {
  const sources = usableSources({
    streams: options.sources?.streams ?? config.STREAMS_URL,
    users: options.sources?.users ?? config.USERS_URL,
    songs: options.sources?.songs ?? config.SONGS_URL,
  });
  const runId = options.runId ?? newRunId();
  const key = activeKey(queues.prefix, sources);
  // The loader clears the key when the run ends; the TTL only guards against a lost run.
  const claimed = await queues.connection.set(key, runId, 'EX', 6 * 3600, 'NX');
  if (!claimed) {
    const active = await queues.connection.get(key);
    if (active) {
      const state = await queues.queues.load.getJobState(jobIds.load(active));
      if (state !== 'completed' && state !== 'failed' && state !== 'unknown') return { runId: active, created: false };
    }
    await queues.connection.set(key, runId, 'EX', 6 * 3600);
  }

  const run: RunContext = {
    runId,
    trigger: options.trigger,
    startedAt: new Date().toISOString(),
    sources,
    lake: config.LAKE_URL,
    archive: config.ARCHIVE_URL,
  };
  const opts = jobOptions(config);
  const kind = <K extends JobKind>(name: K, data: JobData<K>) => ({ name, queueName: QUEUES[JOB_KINDS[name].stage], data });
  await queues.flows.add({
    ...kind('load', { run }),
    opts: { ...opts, jobId: jobIds.load(runId) },
    children: [
      {
        ...kind('publish', { run }),
        // The loader always runs: it records failed runs and removes their temporaries.
        opts: { ...opts, jobId: jobIds.publish(runId), ignoreDependencyOnFailure: true },
        children: [{ ...kind('plan', { run, files: options.files }), opts: { ...opts, jobId: jobIds.plan(runId), ignoreDependencyOnFailure: true } }],
      },
    ],
  });
  return { runId, created: true };
}

export { activeKey };
