import type { Readable } from 'node:stream';
import type { RunContext } from '@musicflow/contracts';
import type { KpiTables } from '@musicflow/kpi';
import { readConcatenated, type ObjectStore } from '@musicflow/storage';
import { kpiRowsToCsv } from '@musicflow/warehouse';
import { LAKE_LAYOUT } from '../layout.ts';
import type { RunArtifact } from './artifact.ts';

/** A date's KPI rows, per table, as the loader copies them into the warehouse. */
export const KPI_ROWS: RunArtifact = {
  path: 'tmp/run=<run>/kpis/<genre|hourly>-<date>.csv',
  format: "CSV without a header, the columns of the warehouse table (@musicflow/warehouse's kpiRowsToCsv)",
  version: 1,
  writers: ['kpi-date'],
  readers: ['load'],
};

/** Writes a date's KPI rows; returns where each table's went. */
export async function writeKpiRows(
  store: ObjectStore,
  run: RunContext,
  listenDate: string,
  tables: KpiTables,
): Promise<{ genreUrl: string; hourlyUrl: string }> {
  const csv = kpiRowsToCsv(tables);
  const genreUrl = LAKE_LAYOUT.kpiRows(run.lake, run.runId, 'genre', listenDate);
  const hourlyUrl = LAKE_LAYOUT.kpiRows(run.lake, run.runId, 'hourly', listenDate);
  await store.write(genreUrl, csv.genre);
  await store.write(hourlyUrl, csv.hourly);
  return { genreUrl, hourlyUrl };
}

/** The rows of several dates of one table (`writeKpiRows`' URLs), as one stream. */
export const readKpiRows = (store: ObjectStore, urls: readonly string[]): Readable => readConcatenated(store, urls);
