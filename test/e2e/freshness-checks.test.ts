/**
 * Freshness and data checks through the pipeline and the API: a run's report
 * carries its passed checks, /freshness and /metrics show the newest listen
 * date and the last successful run; a broken row left in the warehouse for a
 * loaded date fails a check, which makes the next run partial, names the check
 * in its report, /metrics and the alert.
 */
import { describe, expect, it } from 'vitest';
import { DATA_CHECK_NAMES, DEFAULT_CHECK_SEVERITY } from '@musicflow/contracts';
import { sampleStreams, waitFor } from '../api/fixtures.ts';
import { usePipelineWithApi } from '../helpers/pipeline.ts';

describe('freshness and data checks', () => {
  const setup = usePipelineWithApi(2, 50);

  const metric = (text: string, name: string) =>
    text
      .split('\n')
      .find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
      ?.split(' ')
      .at(-1);

  it('a run reports its passed checks; /freshness and /metrics show the newest date and the last success', async () => {
    const before = await setup.app.inject('/freshness');
    expect(before.json()).toMatchObject({ newestListenDate: null, lastSuccessfulRunAt: null, stale: false, maxAgeSeconds: 26 * 3600 });

    const report = await setup.pipeline.run();
    expect(report.status).toBe('succeeded');
    expect(report.checks).toEqual(DATA_CHECK_NAMES.map((name) => ({ name, passed: true, severity: DEFAULT_CHECK_SEVERITY[name] })));

    const freshness = (await setup.app.inject('/freshness')).json();
    expect(freshness).toMatchObject({ newestListenDate: '2024-06-25', stale: false });
    expect(Math.abs(Date.parse(freshness.lastSuccessfulRunAt) - Date.parse(report.finishedAt!))).toBeLessThan(1000);
    expect(freshness.lastSuccessfulRunAgeSeconds).toBeLessThan(60);
    // The day ended 2024-06-26T00:00Z.
    expect(Math.abs(freshness.newestListenDateAgeSeconds - (Date.now() - Date.parse('2024-06-26T00:00:00Z')) / 1000)).toBeLessThan(60);

    const metrics = (await setup.app.inject('/metrics')).body;
    expect(metric(metrics, 'musicflow_newest_listen_date_timestamp_seconds')).toBe(String(Date.parse('2024-06-25T00:00:00Z') / 1000));
    expect(Number(metric(metrics, 'musicflow_last_successful_run_age_seconds'))).toBeLessThan(60);
    expect(Number(metric(metrics, 'musicflow_newest_listen_date_age_seconds'))).toBeGreaterThan(0);
    expect(metrics).toContain('musicflow_data_check_passed{check="hourly_plays_match_lake"} 1');
    expect(metrics).toContain('musicflow_data_check_passed{check="measures_not_negative_or_null"} 1');
  });

  it('a broken row left for a loaded date fails its check: the run is partial, the check named in report, metrics and alert', async () => {
    const warehouse = await setup.pipeline.ctx.warehouse();
    // A row no load of today's data writes (so the MERGE leaves it), with a negative count.
    await warehouse.query(`INSERT INTO analytics.genre_kpis (listen_date, genre, listen_count, avg_track_duration_ms, avg_popularity,
      popularity_index, most_popular_track_id, most_popular_track_name, most_popular_track_plays, snapshot_seq, run_id, updated_at)
      VALUES ('2024-06-25', 'zz-broken', -5, 1000, 10, -0.5, 't', 'T', 1, 0, 'old-writer', '2024-06-25 00:00:00')`);
    await setup.bucket.addStream('late.csv', await sampleStreams(100, 120));
    const report = await setup.pipeline.run();

    expect(report.status).toBe('partial');
    expect(report.files.rejected).toBe(0);
    expect(report.checks?.filter((c) => !c.passed)).toEqual([
      { name: 'measures_not_negative_or_null', passed: false, severity: 'error', detail: '2024-06-25: 1 row(s) with a negative or null measure' },
    ]);
    expect(report.error).toContain('measures_not_negative_or_null');
    const alert = await waitFor('the alert', async () => setup.receiver.received.find((a) => a.runId === report.runId));
    expect(alert).toMatchObject({ status: 'partial', failedChecks: [{ name: 'measures_not_negative_or_null' }] });
    expect(alert.text).toContain('data check failed [error]: measures_not_negative_or_null');
    const metrics = (await setup.app.inject('/metrics')).body;
    expect(metrics).toContain('musicflow_data_check_passed{check="measures_not_negative_or_null"} 0');
    expect(metrics).toContain('musicflow_data_check_passed{check="hourly_plays_match_lake"} 1');
  });
});
