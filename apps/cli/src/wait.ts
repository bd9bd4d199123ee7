import { readRunProgress, type PipelineQueues, type RunProgress } from '@musicflow/flow';
import { STAGES } from '@musicflow/contracts';

const BAR = 24;

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
 * terminal, one line per change otherwise (logs, CI).
 */
export async function waitForRun(queues: PipelineQueues, runId: string, out: NodeJS.WriteStream = process.stderr): Promise<RunProgress> {
  let drawn = 0;
  let last = '';
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
    if (progress.state === 'completed' || progress.state === 'failed' || progress.state === 'unknown') return progress;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
