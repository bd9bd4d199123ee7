/**
 * The check settings at start-up (CHECK_SEVERITY names only known checks and
 * levels, the anomaly window is consistent) and the column comparison behind
 * schema drift.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '@musicflow/config';
import { DEFAULT_CHECK_SEVERITY } from '@musicflow/contracts';
import { columnChanges } from '@musicflow/warehouse';

describe('check settings', () => {
  it('CHECK_SEVERITY overrides the defaults check by check', () => {
    expect(loadConfig({}).CHECK_SEVERITY).toEqual(DEFAULT_CHECK_SEVERITY);
    const severity = loadConfig({ CHECK_SEVERITY: 'daily_plays_anomaly:error, hourly_plays_match_lake:warn' }).CHECK_SEVERITY;
    expect(severity).toEqual({ ...DEFAULT_CHECK_SEVERITY, daily_plays_anomaly: 'error', hourly_plays_match_lake: 'warn' });
    expect(loadConfig({ CHECKS_BLOCK_ON_ERROR: 'true' }).CHECKS_BLOCK_ON_ERROR).toBe(true);
  });

  it('an unknown check, a bad level or an anomaly window that can never fill stops start-up, naming the variable', () => {
    expect(() => loadConfig({ CHECK_SEVERITY: 'daily_plays:error' })).toThrow(
      /CHECK_SEVERITY: unknown check "daily_plays": the checks are hourly_rows_present, .*daily_listeners_anomaly/,
    );
    expect(() => loadConfig({ CHECK_SEVERITY: 'daily_plays_anomaly:fatal' })).toThrow(
      /CHECK_SEVERITY: "daily_plays_anomaly:fatal" must be check:warn or check:error/,
    );
    expect(() => loadConfig({ ANOMALY_RATIO: '1' })).toThrow(/ANOMALY_RATIO/);
    expect(() => loadConfig({ ANOMALY_TRAILING_DATES: '3', ANOMALY_MIN_DATES: '4' })).toThrow(/ANOMALY_MIN_DATES \(4\) is over ANOMALY_TRAILING_DATES \(3\)/);
  });
});

describe('columnChanges', () => {
  const before = [['user_id', 'track_id', 'listen_time']];

  it('the same columns, in any order, or those of any previous header, are no drift', () => {
    expect(columnChanges(before, ['listen_time', 'user_id', 'track_id'])).toBeUndefined();
    expect(columnChanges([...before, ['user_id', 'track_id', 'listen_time', 'device']], ['user_id', 'track_id', 'listen_time', 'device'])).toBeUndefined();
    expect(columnChanges([], ['a'])).toBeUndefined();
  });

  it('added and missing columns; a missing one whose position an added one takes is renamed', () => {
    expect(columnChanges(before, ['user_id', 'track_id', 'listen_time', 'device'])).toEqual({ added: ['device'], missing: [], renamed: [] });
    expect(columnChanges(before, ['user_id', 'listen_time'])).toEqual({ added: [], missing: ['track_id'], renamed: [] });
    expect(columnChanges(before, ['user_id', 'track_id', 'played_at'])).toEqual({
      added: [],
      missing: [],
      renamed: [{ from: 'listen_time', to: 'played_at' }],
    });
    // Moved as well as renamed: not paired, told as one missing and one added.
    expect(columnChanges(before, ['played_at', 'user_id', 'track_id'])).toEqual({ added: ['played_at'], missing: ['listen_time'], renamed: [] });
  });
});
