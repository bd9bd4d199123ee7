import { UnrecoverableError, WaitingChildrenError, type Job } from 'bullmq';
import type { Config, Logger } from '@musicflow/config';
import {
  extractResultSchema,
  jobIds,
  kpiDateResultSchema,
  transformResultSchema,
  type KpiDateJob,
  type KpiDateResult,
  type KpiResult,
  type KpiRunJob,
  type RunContext,
} from '@musicflow/contracts';
import { QUARANTINE_HEADER } from '@musicflow/ingest';
import { KpiAccumulator, userPassOf } from '@musicflow/kpi';
import { LAKE_LAYOUT, openLakePart } from '@musicflow/lake';
import { basename, joinUrl, readConcatenated, type ObjectStore } from '@musicflow/storage';
import { kpiRowsToCsv } from '@musicflow/warehouse';
import { jobOptions, type PipelineQueues, type ServiceContext } from '@musicflow/flow';
import { biggestDatesFirst, buildReport, decideFiles, type FileOutcome } from './outcome.ts';

/**
 * The KPI queue's two jobs. The run's KPI job, once every chunk is done,
 * decides each file, publishes accepted files' parts to the lake and adds one
 * date job per listen date they touch; date jobs compute a date's KPIs from
 * all of that date's parts (SPEC 3b, 4.3), in parallel on any KPI worker, so
 * late and re-delivered files give the same rows as one run over everything.
 * The run's job then runs again and combines their results for the loader.
 */
export function createKpiProcessor(ctx: ServiceContext) {
  const runKpis = createRunKpiProcessor(ctx);
  const dateKpis = createDateKpiProcessor(ctx);
  return (job: Job, data: KpiRunJob | KpiDateJob, log: Logger, token: string | undefined): Promise<KpiResult | KpiDateResult> =>
    'listenDate' in data ? dateKpis(job, data, log) : runKpis(job, data, log, token);
}

function createRunKpiProcessor({ store, config, queues }: ServiceContext) {
  return async (job: Job, data: KpiRunJob, log: Logger, token: string | undefined): Promise<KpiResult> => {
    const { run } = data;
    const failures = await job.getIgnoredChildrenFailures();
    if (Object.keys(failures).length) {
      const detail = Object.entries(failures).map(([key, reason]) => `${key.split(':').pop()}: ${reason}`);
      throw new UnrecoverableError(`${detail.length} step(s) failed after retries: ${detail.join('; ')}`);
    }
    let values = await job.getChildrenValues();
    const childrenOf = (stage: 'extract' | 'transform' | 'kpi') =>
      Object.entries(values)
        .filter(([key]) => key.startsWith(`${queues.queueKey(stage)}:`))
        .map(([, value]) => value);
    const extract = extractResultSchema.parse(childrenOf('extract')[0]);
    const files = decideFiles(childrenOf('transform').map((v) => transformResultSchema.parse(v)), config.REJECT_THRESHOLD);

    let dates = data.dates;
    if (!dates) {
      const startedAt = Date.now();
      const accepted = files.filter((f) => f.rejectedReasons.length === 0);
      await gatherQuarantine(store, run, files);
      const published = await publishParts(store, run, accepted);
      // Redis' clock orders concurrent runs: a later snapshot of a date's parts never loses to an earlier one.
      const [seconds, micros] = await queues.connection.time();
      const listenDates = [...new Set(published.map((p) => p.listenDate))].sort();
      dates = { snapshotSeq: Number(seconds) * 1_000_000 + Number(micros), startedAt, listenDates };
      // Jobs first, then the step: a retry after a crash in between adds the same jobs again (fixed ids), harmlessly.
      await addDateJobs(config, queues, run, job, published);
      await job.updateData({ ...data, dates });
      await job.updateProgress({ percent: 20, rows: 0 });
      if (await job.moveToWaitingChildren(token!)) throw new WaitingChildrenError();
    }

    // Read again when the date jobs were added by this very call (and were all done already, or there are none).
    if (!data.dates) values = await job.getChildrenValues();
    const results = childrenOf('kpi').map((v) => kpiDateResultSchema.parse(v)).sort((a, b) => a.listenDate.localeCompare(b.listenDate));
    const missing = dates.listenDates.filter((d) => !results.some((r) => r.listenDate === d));
    if (missing.length) throw new Error(`KPIs of ${missing.join(', ')} are missing although every date job is done`);
    const duplicate = results.reduce((n, r) => n + r.duplicate, 0);
    log.info({ dates: dates.listenDates, duplicate }, 'KPIs computed');

    const report = buildReport(run, extract, files, { duplicate, dates: dates.listenDates, kpiStartedAt: dates.startedAt });
    report.kpiRows = { genre: results.reduce((n, r) => n + r.genreRows, 0), hourly: results.reduce((n, r) => n + r.hourlyRows, 0) };
    await job.updateProgress({ percent: 100, rows: results.reduce((n, r) => n + r.rows, 0) });
    return {
      startedAt: dates.startedAt,
      finishedAt: Date.now(),
      report,
      genreUrls: results.map((r) => r.genreUrl),
      hourlyUrls: results.map((r) => r.hourlyUrl),
      snapshotSeq: dates.snapshotSeq,
    };
  };
}

/** One job per date under the run's KPI job, biggest first; fixed ids, so a retry does not add them twice. */
async function addDateJobs(config: Config, queues: PipelineQueues, run: RunContext, parent: Job, published: PublishedPart[]) {
  const opts = jobOptions(config);
  await queues.queues.kpi.addBulk(
    biggestDatesFirst(published).map((listenDate) => ({
      // Named after their stage, so run progress counts them with it.
      name: 'kpi',
      data: { run, listenDate, ours: published.filter((p) => p.listenDate === listenDate).map((p) => p.url) } satisfies KpiDateJob,
      opts: {
        ...opts,
        jobId: jobIds.kpiDate(run.runId, listenDate),
        parent: { id: parent.id!, queue: queues.queueKey('kpi') },
        failParentOnFailure: true,
      },
    })),
  );
}

function createDateKpiProcessor({ store, config }: ServiceContext) {
  return async (job: Job, { run, listenDate, ours }: KpiDateJob, log: Logger): Promise<KpiDateResult> => {
    const startedAt = Date.now();
    const { tables, duplicate, rows, passes } = await computeDate(store, run.lake, listenDate, new Set(ours), config.KPI_EVENTS_PER_PASS);
    const tmp = LAKE_LAYOUT.runTemp(run.lake, run.runId);
    const csv = kpiRowsToCsv(tables);
    const genreUrl = joinUrl(tmp, 'kpis', `genre-${listenDate}.csv`);
    const hourlyUrl = joinUrl(tmp, 'kpis', `hourly-${listenDate}.csv`);
    await store.write(genreUrl, csv.genre);
    await store.write(hourlyUrl, csv.hourly);
    log.info({ listenDate, rows, passes, duplicate, genreRows: tables.genre.length, hourlyRows: tables.hourly.length }, 'date KPIs computed');
    await job.updateProgress({ percent: 100, rows });
    return {
      startedAt,
      finishedAt: Date.now(),
      listenDate,
      genreUrl,
      hourlyUrl,
      genreRows: tables.genre.length,
      hourlyRows: tables.hourly.length,
      duplicate,
      rows,
      passes,
    };
  };
}

/** One CSV per source file under `quarantine/run=<id>/`, gathered from its chunks. */
async function gatherQuarantine(store: ObjectStore, run: RunContext, files: FileOutcome[]): Promise<void> {
  for (const file of files) {
    const urls = file.chunks.map((c) => c.validation.quarantineUrl).filter((u): u is string => !!u).sort();
    if (!urls.length) continue;
    const body = readConcatenated(store, urls, `${QUARANTINE_HEADER.join(',')}\n`);
    await store.write(LAKE_LAYOUT.quarantine(run.lake, run.runId, file.fileId), body);
  }
}

interface PublishedPart {
  listenDate: string;
  url: string;
  rows: number;
}

/**
 * Moves accepted files' staged parts into `processed/listen_date=…/`, first
 * removing parts an earlier ingestion of the same file left under other names.
 * Safe to repeat: a part already moved is skipped.
 */
async function publishParts(store: ObjectStore, run: RunContext, accepted: FileOutcome[]): Promise<PublishedPart[]> {
  const published: PublishedPart[] = [];
  const existing = new Map<string, string[]>();
  const listDate = async (date: string) => {
    let names = existing.get(date);
    if (!names) {
      names = [];
      for await (const obj of store.list(LAKE_LAYOUT.processedDate(run.lake, date))) names.push(obj.url);
      existing.set(date, names);
    }
    return names;
  };
  for (const file of accepted) {
    const parts = file.chunks.flatMap((c) => c.parts);
    for (const date of new Set(parts.map((p) => p.listenDate))) {
      const fresh = new Set(parts.filter((p) => p.listenDate === date).map((p) => basename(p.url)));
      for (const url of await listDate(date)) {
        const name = basename(url);
        if (LAKE_LAYOUT.isPartOf(name, file.fileId) && !fresh.has(name)) await store.delete(url);
      }
    }
    for (const part of parts) {
      const target = joinUrl(LAKE_LAYOUT.processedDate(run.lake, part.listenDate), basename(part.url));
      if (await store.head(part.url)) await store.move(part.url, target);
      else if (!(await store.head(target))) throw new Error(`staged part ${part.url} is missing and was never published`);
      published.push({ listenDate: part.listenDate, url: target, rows: part.rows });
    }
  }
  return published;
}

/** What every pass reads: who played which track when, and whether the row carries catalogue info. */
const PLAY_COLUMNS = ['user_id', 'track_id', 'listen_time', 'track_name'] as const;
/** The rest of a track's catalogue info, read only for row groups that bring a track without it. */
const TRACK_INFO_COLUMNS = ['artists', 'genres', 'popularity', 'duration_ms'] as const;

/**
 * KPIs of one date from every part of it in the lake. Other files' parts go in
 * first, so `duplicate` counts this run's events that were already known.
 * A date of more than `eventsPerPass` events is read in passes, each over the
 * plays of a share of its users, so duplicate detection stays that small.
 */
async function computeDate(store: ObjectStore, lake: string, date: string, ours: Set<string>, eventsPerPass: number) {
  const partUrls: string[] = [];
  for await (const obj of store.list(LAKE_LAYOUT.processedDate(lake, date))) {
    if (obj.url.endsWith('.parquet')) partUrls.push(obj.url);
  }
  partUrls.sort((a, b) => Number(ours.has(a)) - Number(ours.has(b)) || a.localeCompare(b));

  const parts = await Promise.all(partUrls.map(async (url) => ({ url, reader: await openLakePart(store, url) })));
  const rows = parts.reduce((n, p) => n + p.reader.rows, 0);
  const passes = Math.max(1, Math.ceil(rows / eventsPerPass));
  const accumulator = new KpiAccumulator({ expectedPlaysPerPass: Math.ceil(rows / passes) });
  let duplicate = 0;
  // Per row of the group at hand: its interned track, and whether its user is in this pass.
  let tracks = new Int32Array(0);
  let inPass = new Uint8Array(0);
  for (let pass = 0; pass < passes; pass++) {
    if (pass > 0) accumulator.endUserPass();
    for (const { url, reader } of parts) {
      const counting = ours.has(url);
      for (let g = 0; g < reader.rowGroups; g++) {
        const { rows: n, user_id, track_id, listen_time, track_name } = await reader.readGroup(g, PLAY_COLUMNS);
        if (tracks.length < n) {
          tracks = new Int32Array(n);
          inPass = new Uint8Array(n);
        }
        // The first pass gives every track of the date its catalogue info, whoever played it.
        let lacksInfo = false;
        for (let i = 0; i < n; i++) {
          inPass[i] = passes === 1 || userPassOf(user_id[i]!, passes) === pass ? 1 : 0;
          if (pass > 0 && !inPass[i]) continue;
          const t = (tracks[i] = accumulator.internTrack(track_id[i]!));
          if (pass === 0 && track_name[i] != null && accumulator.needsTrackInfo(t)) lacksInfo = true;
        }
        if (lacksInfo) {
          const info = await reader.readGroup(g, TRACK_INFO_COLUMNS);
          for (let i = 0; i < n; i++) {
            const t = tracks[i]!;
            const name = track_name[i];
            // Every event of a track carries the same enrichment: split it once per track.
            if (name != null && accumulator.needsTrackInfo(t)) {
              accumulator.setTrackInfo(t, {
                name,
                artists: info.artists[i] ? info.artists[i]!.split(';') : [],
                genres: info.genres[i] ? info.genres[i]!.split(';') : [],
                durationMs: info.duration_ms[i] ?? 0,
                popularity: info.popularity[i] ?? 0,
              });
            }
          }
        }
        for (let i = 0; i < n; i++) {
          if (inPass[i] && !accumulator.addPlay(user_id[i]!, tracks[i]!, listen_time[i]!, track_name[i] != null) && counting) duplicate++;
        }
      }
    }
  }
  return { tables: accumulator.result(), duplicate, rows, passes };
}
