/** A job's progress reports: a clock read when nothing is due, the cancel flag and a write when something is. */
import { describe, expect, it } from 'vitest';
import { RowProgress } from '@musicflow/flow';

describe('RowProgress', () => {
  it('gives nothing to wait for until a cancel check or a write is due, then checks and writes', async () => {
    const written: unknown[] = [];
    let due = false;
    let checks = 0;
    const cancel = {
      due: () => due,
      check: async () => {
        checks++;
        if (due) throw new Error('run cancelled');
      },
    };
    const progress = new RowProgress({ updateProgress: async (p: unknown) => void written.push(p) }, cancel);
    // A file of a chunk of small files: neither the flag nor a write is due.
    expect(progress.report(10, 1)).toBeUndefined();
    expect(checks).toBe(0);
    // Enough rows for a write: the flag is looked at first.
    await progress.report(60_000, 50);
    expect(checks).toBe(1);
    expect(written).toEqual([{ rows: 60_000, percent: 50 }]);
    expect(progress.report(60_010, 50)).toBeUndefined();
    // The flag's time has come: a cancelled run's job stops at its next report.
    due = true;
    await expect(progress.report(60_020, 50)).rejects.toThrow('run cancelled');
    expect(written).toHaveLength(1);
  });
});
