import { PassThrough } from 'node:stream';
import type { Job } from 'bullmq';
import type { Logger } from '@musicflow/config';
import type { ChunkJob, ValidateResult } from '@musicflow/contracts';
import {
  CleanEventsWriter,
  CsvFileError,
  csvByteBatches,
  openStreamFile,
  QuarantineWriter,
  recordFields,
  STREAM_COLUMNS,
  StreamRowChecker,
} from '@musicflow/ingest';
import { LAKE_LAYOUT } from '@musicflow/lake';
import { basename, joinUrl } from '@musicflow/storage';
import type { ServiceContext } from '@musicflow/flow';

const PROGRESS_EVERY_ROWS = 50_000;

/** zlib reports a corrupt `.gz` with Z_* codes: the file is bad, not the infrastructure. */
const isBadGzip = (err: unknown) => typeof (err as { code?: unknown }).code === 'string' && /^Z_/.test((err as { code: string }).code);

/**
 * Parses one chunk (the byte-level reader, `csvByteBatches`) and applies the SPEC 2.1 row rules: clean rows go to a run
 * temporary as binary column blocks (`CleanEventsWriter`), bad rows to
 * quarantine with line and reason. A chunk that cannot be parsed reports the line; the KPI
 * step then rejects the whole file.
 */
export function createValidateProcessor({ store }: ServiceContext) {
  return async (job: Job, { run, chunk }: ChunkJob, log: Logger): Promise<ValidateResult> => {
    const startedAt = Date.now();
    const tmp = LAKE_LAYOUT.runTemp(run.lake, run.runId);
    const validUrl = joinUrl(tmp, 'valid', `${chunk.chunkId}.events`);
    const quarantine = new QuarantineWriter(
      store,
      joinUrl(tmp, 'quarantine', chunk.fileId, `${String(chunk.index).padStart(6, '0')}.csv`),
      basename(chunk.fileUrl),
      false,
    );
    const [userCol, trackCol, timeCol] = STREAM_COLUMNS.map((c) => chunk.header.indexOf(c)) as [number, number, number];

    const valid = new PassThrough();
    const upload = store.write(validUrl, valid);
    upload.catch(() => undefined);
    const clean = new CleanEventsWriter(valid);
    const rows = new StreamRowChecker(userCol, trackCol, timeCol, clean);
    const rejected: Record<string, number> = {};
    let rowsRead = 0;
    let rowsValid = 0;
    let parseError: string | undefined;

    const bytes = await openStreamFile(store, chunk.fileUrl, { gzip: chunk.gzip, range: chunk });
    let bytesRead = 0;
    bytes.on('data', (b: Buffer) => (bytesRead += b.length));
    // A `.gz` chunk is the whole file, header included.
    let skipHeader = chunk.gzip;
    let nextProgressAt = PROGRESS_EVERY_ROWS;
    try {
      for await (const batch of csvByteBatches(bytes, chunk.firstLine)) {
        for (let r = 0; r < batch.records; r++) {
          if (skipHeader) {
            skipHeader = false;
            continue;
          }
          rowsRead++;
          const bad = rows.check(batch, r);
          if (!bad) {
            rowsValid++;
            const draining = clean.addIndexed(rows.userId, rows.trackIndex, rows.listenTime);
            if (draining) await draining;
          } else {
            rejected[bad.reason] = (rejected[bad.reason] ?? 0) + 1;
            // The batch's bytes stay valid while the quarantine drains: the reader waits for this loop.
            await quarantine.add(batch.lines[r]!, bad.reason, bad.field, bad.value, recordFields(batch, r));
          }
        }
        if (rowsRead >= nextProgressAt) {
          nextProgressAt = rowsRead + PROGRESS_EVERY_ROWS;
          const percent = chunk.gzip ? 50 : Math.min(99, (100 * bytesRead) / Math.max(1, chunk.end - chunk.start));
          await job.updateProgress({ rows: rowsRead, percent });
        }
      }
    } catch (err) {
      if (err instanceof CsvFileError) parseError = err.message;
      else if (isBadGzip(err)) parseError = `not a valid gzip file: ${(err as Error).message}`;
      else {
        valid.destroy(err as Error);
        quarantine.abort(err as Error);
        throw err;
      }
    }
    await clean.end();
    await upload;
    const quarantineUrl = await quarantine.close();
    if (parseError) log.warn({ file: chunk.fileUrl, parseError }, 'chunk cannot be parsed: file will be rejected');
    await job.updateProgress({ rows: rowsRead, percent: 100 });
    return {
      startedAt,
      finishedAt: Date.now(),
      fileId: chunk.fileId,
      fileUrl: chunk.fileUrl,
      chunkId: chunk.chunkId,
      parseError,
      rowsRead,
      rowsValid,
      rejected,
      validUrl,
      quarantineUrl,
    };
  };
}
