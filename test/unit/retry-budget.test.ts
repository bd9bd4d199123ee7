/**
 * The retry schedule of infrastructure faults (docs/operating-warehouse.md,
 * "The retry budget") with the default settings, and the delay the worker logs
 * after each failed attempt.
 */
import { UnrecoverableError } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@musicflow/config';
import { nextRetryDelay, retryAttempts, retryDelay } from '@musicflow/flow';

const defaults = loadConfig({});

describe('the retry budget with the default settings', () => {
  const delays = Array.from({ length: retryAttempts(defaults) - 1 }, (_, i) => retryDelay(defaults, i + 1));

  it('waits 1, 2, 4, 8, 16 s, then 30 s each, the last one cut so that they add up to 15 minutes: 35 attempts', () => {
    expect(retryAttempts(defaults)).toBe(35);
    expect(delays.slice(0, 7)).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    expect(delays.at(-1)).toBe(900_000 - 31_000 - 28 * 30_000);
    expect(delays.reduce((a, b) => a + b, 0)).toBe(15 * 60_000);
    expect(retryDelay(defaults, 35)).toBe(-1);
  });

  it('a 2-minute outage from a job start: the attempt at 121 s is the first after it', () => {
    const startsAt = delays.reduce<number[]>((at, d) => [...at, at.at(-1)! + d], [0]);
    expect(startsAt.slice(0, 9)).toEqual([0, 1000, 3000, 7000, 15_000, 31_000, 61_000, 91_000, 121_000]);
  });

  it('after a failed attempt: the delay before the next, none after the last or an UnrecoverableError', () => {
    const job = (attemptsMade: number) => ({ attemptsMade, opts: { attempts: retryAttempts(defaults) } });
    expect(nextRetryDelay(defaults, job(1), new Error('connect ECONNREFUSED'))).toBe(1000);
    expect(nextRetryDelay(defaults, job(8), new Error('connect ECONNREFUSED'))).toBe(30_000);
    expect(nextRetryDelay(defaults, job(35), new Error('connect ECONNREFUSED'))).toBeUndefined();
    expect(nextRetryDelay(defaults, job(1), new UnrecoverableError('bad file'))).toBeUndefined();
    // A worker with a smaller budget than the job's attempts stops when its budget is spent.
    expect(nextRetryDelay({ ...defaults, RETRY_BUDGET_MS: 3000 }, job(2), new Error('timeout'))).toBe(2000);
    expect(nextRetryDelay({ ...defaults, RETRY_BUDGET_MS: 3000 }, job(3), new Error('timeout'))).toBeUndefined();
  });
});
