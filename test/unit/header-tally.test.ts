/** The stream headers a run read, tallied by the plan and by each chunk's validator, merged once for schema drift. */
import { describe, expect, it } from 'vitest';
import { HeaderTally, MAX_SOURCE_HEADERS } from '@musicflow/lake';

const COLUMNS = ['user_id', 'track_id', 'listen_time'];

describe('HeaderTally', () => {
  it('merges tallies as one tally of every file would be: counts added, three examples, at most MAX_SOURCE_HEADERS headers', () => {
    const plan = new HeaderTally();
    plan.add(COLUMNS, 'a.csv');
    plan.add(['user_id', 'when'], 'broken.csv');
    const chunk = new HeaderTally();
    for (const file of ['b.csv', 'c.csv', 'd.csv']) chunk.add(COLUMNS, file);
    for (let i = 0; i < MAX_SOURCE_HEADERS + 5; i++) chunk.add([...COLUMNS, `extra${i}`], `extra${i}.csv`);

    const merged = new HeaderTally();
    merged.merge(plan.headers());
    merged.merge(chunk.headers());
    expect(merged.size).toBe(MAX_SOURCE_HEADERS);
    expect(merged.headers().slice(0, 2)).toEqual([
      { columns: COLUMNS, files: 4, examples: ['a.csv', 'b.csv', 'c.csv'] },
      { columns: ['user_id', 'when'], files: 1, examples: ['broken.csv'] },
    ]);
  });

  it('counts each file under its own header when headers alternate, and keeps the first three files as examples', () => {
    const tally = new HeaderTally();
    const other = ['listen_time', 'track_id', 'user_id'];
    for (const [columns, file] of [
      [COLUMNS, 'a.csv'],
      [other, 'b.csv'],
      [[...COLUMNS], 'c.csv'],
      [COLUMNS, 'd.csv'],
      [COLUMNS, 'e.csv'],
      [other, 'f.csv'],
    ] as const)
      tally.add(columns, file);
    expect(tally.headers()).toEqual([
      { columns: COLUMNS, files: 4, examples: ['a.csv', 'c.csv', 'd.csv'] },
      { columns: other, files: 2, examples: ['b.csv', 'f.csv'] },
    ]);
  });
});
