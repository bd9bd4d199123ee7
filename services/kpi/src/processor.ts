import { Readable } from 'node:stream';
import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import {
  extractResultSchema,
  transformResultSchema,
  type KpiResult,
  type RunContext,
} from '@musicflow/contracts';
import { QUARANTINE_HEADER } from '@musicflow/ingest';
import { KpiAccumulator, type KpiTables, type TrackInfo } from '@musicflow/kpi';
import { LAKE_LAYOUT, readLakeColumns } from '@musicflow/lake';
import { basename, joinUrl, type ObjectStore } from '@musicflow/storage';
import { kpiRowsToCsv } from '@musicflow/warehouse';
import type { ServiceContext } from '@musicflow/flow';
import { buildReport, decideFiles, type FileOutcome } from './outcome.ts';

/**
 * After every chunk is done: decide each file, publish accepted files' parts
 * to the lake, and compute the KPIs of every date they touch from all of that
 * date's parts (SPEC 3b, 4.3), so late and re-delivered files give the same
 * rows as one run over everything.
 */
export function createKpiProcessor({ store, config, queues }: ServiceContext) {
  return async (job: Job, { run }: { run: RunContext }, log: Logger): Promise<KpiResult> => {
    const kpiStartedAt = Date.now();
    const failures = await job.getIgnoredChildrenFailures();
    if (Object.keys(failures).length) {
      const detail = Object.entries(failures).map(([key, reason]) => `${key.split(':').pop()}: ${reason}`);
      throw new UnrecoverableError(`${detail.length} step(s) failed after retries: ${detail.join('; ')}`);
    }
    const values = await job.getChildrenValues();
    const extractKey = `${queues.queueKey('extract')}:`;
    const extract = extractResultSchema.parse(Object.entries(values).find(([k]) => k.startsWith(extractKey))?.[1]);
    const transforms = Object.entries(values)
      .filter(([k]) => !k.startsWith(extractKey))
      .map(([, v]) => transformResultSchema.parse(v));

    const files = decideFiles(transforms, config.REJECT_THRESHOLD);
    const accepted = files.filter((f) => f.rejectedReasons.length === 0);
    await gatherQuarantine(store, run, files);
    const published = await publishParts(store, run, accepted);
    await job.updateProgress({ percent: 20, rows: 0 });

    // Redis' clock orders concurrent runs: a later snapshot of a date's parts never loses to an earlier one.
    const [seconds, micros] = await queues.connection.time();
    const snapshotSeq = Number(seconds) * 1_000_000 + Number(micros);

    const dates = [...new Set(published.map((p) => p.listenDate))].sort();
    const tables: KpiTables = { genre: [], hourly: [] };
    let duplicate = 0;
    let rows = 0;
    for (const [i, date] of dates.entries()) {
      const ours = new Set(published.filter((p) => p.listenDate === date).map((p) => p.url));
      const result = await computeDate(store, run.lake, date, ours);
      tables.genre.push(...result.tables.genre);
      tables.hourly.push(...result.tables.hourly);
      duplicate += result.duplicate;
      rows += result.rows;
      await job.updateProgress({ percent: 20 + (80 * (i + 1)) / dates.length, rows });
    }

    const tmp = LAKE_LAYOUT.runTemp(run.lake, run.runId);
    const csv = kpiRowsToCsv(tables);
    const genreUrl = joinUrl(tmp, 'kpis', 'genre.csv');
    const hourlyUrl = joinUrl(tmp, 'kpis', 'hourly.csv');
    await store.write(genreUrl, csv.genre);
    await store.write(hourlyUrl, csv.hourly);
    log.info({ dates, genreRows: tables.genre.length, hourlyRows: tables.hourly.length, duplicate }, 'KPIs computed');

    const report = buildReport(run, extract, files, { duplicate, dates, kpiStartedAt });
    report.kpiRows = { genre: tables.genre.length, hourly: tables.hourly.length };
    return { startedAt: kpiStartedAt, finishedAt: Date.now(), report, genreUrl, hourlyUrl, snapshotSeq };
  };
}

/** One CSV per source file under `quarantine/run=<id>/`, gathered from its chunks. */
async function gatherQuarantine(store: ObjectStore, run: RunContext, files: FileOutcome[]): Promise<void> {
  for (const file of files) {
    const urls = file.chunks.map((c) => c.validation.quarantineUrl).filter((u): u is string => !!u).sort();
    if (!urls.length) continue;
    const body = Readable.from(
      (async function* () {
        yield `${QUARANTINE_HEADER.join(',')}\n`;
        for (const url of urls) yield* await store.read(url);
      })(),
    );
    await store.write(LAKE_LAYOUT.quarantine(run.lake, run.runId, file.fileId), body);
  }
}

interface PublishedPart {
  listenDate: string;
  url: string;
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
      published.push({ listenDate: part.listenDate, url: target });
    }
  }
  return published;
}

const KPI_COLUMNS = ['user_id', 'track_id', 'listen_time', 'track_name', 'artists', 'genres', 'popularity', 'duration_ms'] as const;

/**
 * KPIs of one date from every part of it in the lake. Other files' parts go in
 * first, so `duplicate` counts this run's events that were already known.
 */
async function computeDate(store: ObjectStore, lake: string, date: string, ours: Set<string>) {
  const partUrls: string[] = [];
  for await (const obj of store.list(LAKE_LAYOUT.processedDate(lake, date))) {
    if (obj.url.endsWith('.parquet')) partUrls.push(obj.url);
  }
  partUrls.sort((a, b) => Number(ours.has(a)) - Number(ours.has(b)) || a.localeCompare(b));

  const accumulator = new KpiAccumulator();
  // Every event of a track carries the same enrichment: split it once per track.
  const tracks = new Map<string, TrackInfo | undefined>();
  let duplicate = 0;
  let rows = 0;
  for (const url of partUrls) {
    const counting = ours.has(url);
    for await (const group of readLakeColumns(store, url, KPI_COLUMNS)) {
      const { user_id, track_id, listen_time, track_name, artists, genres, popularity, duration_ms } = group;
      for (let i = 0; i < group.rows; i++) {
        const trackId = track_id[i]!;
        let info = tracks.get(trackId);
        if (info === undefined && !tracks.has(trackId)) {
          const name = track_name[i];
          info =
            name == null
              ? undefined
              : {
                  name,
                  artists: artists[i] ? artists[i]!.split(';') : [],
                  genres: genres[i] ? genres[i]!.split(';') : [],
                  durationMs: duration_ms[i] ?? 0,
                  popularity: popularity[i] ?? 0,
                };
          tracks.set(trackId, info);
        }
        if (!accumulator.add(user_id[i]!, trackId, listen_time[i]!, info) && counting) duplicate++;
      }
      rows += group.rows;
    }
  }
  return { tables: accumulator.result(), duplicate, rows };
}
