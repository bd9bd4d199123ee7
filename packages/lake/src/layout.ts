import { joinUrl } from '@musicflow/storage';

const DAY_MS = 86_400_000;

/** `YYYY-MM-DD` (UTC) of an epoch-millisecond instant. */
export function listenDateOf(epochMs: number): string {
  return new Date(Math.floor(epochMs / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
}

/**
 * A part's name derives from its source file (and chunk), so processing the
 * same file again overwrites its own parts instead of adding copies.
 */
export function partFileName(fileId: string, chunkIndex: number, chunkCount: number): string {
  return chunkCount === 1 ? `${fileId}.parquet` : `${fileId}.part-${String(chunkIndex).padStart(4, '0')}.parquet`;
}

/** Where everything lives under LAKE_URL (SPEC 3, 3b). */
export const LAKE_LAYOUT = {
  processedDate: (lake: string, listenDate: string) => joinUrl(lake, 'processed', `listen_date=${listenDate}/`),
  quarantine: (lake: string, runId: string, fileId: string) => joinUrl(lake, 'quarantine', `run=${runId}`, `${fileId}.csv`),
  runTemp: (lake: string, runId: string) => joinUrl(lake, 'tmp', `run=${runId}/`),
  /** The run's catalogue snapshot, written by the extractor before any chunk job exists. */
  catalogueSongs: (lake: string, runId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'catalogue', 'songs.ndjson'),
  catalogueUsers: (lake: string, runId: string) => joinUrl(lake, 'tmp', `run=${runId}`, 'catalogue', 'users.txt'),
  /** True when `name` (a part file name) belongs to source file `fileId`. */
  isPartOf: (name: string, fileId: string) => name === `${fileId}.parquet` || name.startsWith(`${fileId}.part-`),
};

export { DAY_MS };
