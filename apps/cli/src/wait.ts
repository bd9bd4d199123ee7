import type { Config } from '@musicflow/config';
import { PipelineQueues, readRunHealth, readRunProgress, redisConnection, type RunProgress } from '@musicflow/flow';
import { STAGES } from '@musicflow/contracts';
import { formatReport, terminalWidth } from './format.ts';
import { exitCodeOf } from './preflight.ts';

const BAR = 24;
/** Health is read less often than progress: it lists the queues' workers (Redis CLIENT LIST). */
const HEALTH_EVERY_MS = 2000;
/** A warning that still holds is repeated this often, with its figures brought up to date. */
const REPEAT_WARNINGS_MS = 30_000;

function render(p: RunProgress): string[] {
  return STAGES.map((stage) => {
    const s = p.stages[stage];
    const filled = Math.round((s.percent / 100) * BAR);
    const jobs = `${s.completed}/${s.total} jobs${s.failed ? `, ${s.failed} failed` : ''}`;
    const rows = s.rows ? `  ${s.rows.toLocaleString('en-US')} rows` : '';
    return `  ${stage.padEnd(9)} [${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}] ${s.percent.toFixed(0).padStart(3)}%  ${jobs}${rows}`;
  });
}

/**
 * Polls a run until it ends, drawing per-stage progress: redrawn in place on a
 * terminal, one line per change otherwise (logs, CI). A run that cannot move
 * (no worker on a queue it needs, a job whose worker died) gets a warning line,
 * and the wait goes on: workers may come back.
 */
export async function waitForRun(
  queues: PipelineQueues,
  runId: string,
  /** The JOB_LOCK_MS setting: when a job's worker counts as unreachable. */
  lockMs: number,
  out: NodeJS.WriteStream = process.stderr,
): Promise<RunProgress> {
  let drawn = 0;
  let last = '';
  let healthAt = 0;
  let warned = '';
  let warnedAt = 0;
  for (;;) {
    const progress = await readRunProgress(queues, runId);
    const lines = render(progress);
    const text = lines.join('\n');
    if (text !== last) {
      if (out.isTTY && drawn) out.write(`\x1b[${drawn}A\x1b[0J`);
      out.write(`${text}\n${out.isTTY ? '' : '\n'}`);
      drawn = lines.length;
      last = text;
    }
    if (progress.state === 'completed' || progress.state === 'failed' || progress.state === 'unknown') {
      // A run that ended after a warning did move again, though no health poll saw it between.
      if (warned && progress.state !== 'unknown') out.write('workers are back: the run is moving again\n');
      return progress;
    }
    if (Date.now() - healthAt >= HEALTH_EVERY_MS) {
      healthAt = Date.now();
      const { warnings } = await readRunHealth(queues, runId, { lockMs });
      // The same problems with other figures (seconds) are the same warning: repeated now and then, not every poll.
      const kinds = warnings.map((w) => w.replace(/\d+ s\b/g, '')).join('\n');
      if (kinds !== warned || (warnings.length && healthAt - warnedAt >= REPEAT_WARNINGS_MS)) {
        if (warnings.length) out.write(`${warnings.map((w) => `warning: ${w}`).join('\n')}\n`);
        else if (warned) out.write('workers are back: the run is moving again\n');
        // Lines written below the bars: the next redraw starts under them.
        drawn = 0;
        warned = kinds;
        warnedAt = healthAt;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The queues of a command that enqueues a run and may wait for it, closed when `work` is done. */
export async function withQueues<T>(config: Config, work: (queues: PipelineQueues) => Promise<T>): Promise<T> {
  const connection = redisConnection(config, 'worker');
  const queues = new PipelineQueues(connection, config.QUEUE_PREFIX);
  try {
    return await work(queues);
  } finally {
    await queues.close();
    connection.disconnect();
  }
}

/** `--wait`: progress until the run ends, then its report; the exit code of its status. */
export async function waitAndReport(queues: PipelineQueues, runId: string, lockMs: number): Promise<number> {
  const progress = await waitForRun(queues, runId, lockMs);
  if (progress.report) console.log(formatReport(progress.report, terminalWidth(process.stdout)));
  else console.log(`run ${runId} ${progress.state}${progress.error ? `: ${progress.error}` : ''}`);
  return exitCodeOf(progress.report);
}
