/** The pairs bench's reading of its arguments and of a bench run's last line, and its summary of ratios (bench/pairs.ts). */
import { describe, expect, it } from 'vitest';
import { pairOrder, pairsArgs, parseBenchLine, spread } from '../../bench/pairs.ts';

describe('bench pairs', () => {
  it('takes --a and --b values that start with a dash, --warmup, and what follows -- as shared', () => {
    expect(pairsArgs(['--pairs', '5', '--a', '--files 100000', '--b=--files 5', '--', '--events', '1000000'])).toEqual({
      values: { pairs: '5', a: '--files 100000', b: '--files 5' },
      positionals: ['--events', '1000000'],
    });
    expect(pairsArgs(['--warmup', '0', '--a', '--files 5', '--b', '--files 1'])).toEqual({
      values: { warmup: '0', a: '--files 5', b: '--files 1' },
      positionals: [],
    });
    expect(() => pairsArgs(['--files', '5'])).toThrow(/unknown argument --files .*after --/);
    expect(() => pairsArgs(['--a'])).toThrow(/--a needs a value/);
  });

  it("reads a bench line's figures, and nothing from other lines", () => {
    expect(parseBenchLine('bench: events=1000000 workers=2 pipeline_s=12.37 cpu_us_per_event=20.17 kpi_digest=59602e376fe5cbec')).toEqual({
      events: '1000000',
      workers: '2',
      pipeline_s: '12.37',
      cpu_us_per_event: '20.17',
      kpi_digest: '59602e376fe5cbec',
    });
    expect(parseBenchLine('KPI rows identical: 565 genre, 120 hourly')).toBeUndefined();
  });

  it('lets each side go first in every other pair', () => {
    expect([1, 2, 3, 4, 5].map(pairOrder)).toEqual([
      ['a', 'b'],
      ['b', 'a'],
      ['a', 'b'],
      ['b', 'a'],
      ['a', 'b'],
    ]);
  });

  it('gives the median of an odd and an even count, and the range', () => {
    expect(spread([2.4, 1.9, 2.2])).toEqual({ median: 2.2, min: 1.9, max: 2.4 });
    expect(spread([2.4, 1.9, 2.2, 2.0])).toEqual({ median: 2.1, min: 1.9, max: 2.4 });
    expect(() => spread([])).toThrow();
  });
});
