import { Transform, type TransformCallback } from 'node:stream';
import type { Config } from '@musicflow/config';

/**
 * The bounds a stream file must keep (the MAX_* settings). Breaking one is an
 * outcome of the file, rejected with a `FileBoundError`'s message as its
 * reason: never retried, never a failed run. Each is checked while the bytes
 * stream past, so finding it costs no more memory than the bound itself.
 */
export interface FileBounds {
  maxRecordBytes: number;
  maxColumns: number;
  maxDecompressedBytes: number;
  maxGzipRatio: number;
}

export type RecordBounds = Pick<FileBounds, 'maxRecordBytes' | 'maxColumns'>;

export const fileBoundsOf = (config: Pick<Config, 'MAX_RECORD_BYTES' | 'MAX_COLUMNS' | 'MAX_DECOMPRESSED_BYTES' | 'MAX_GZIP_RATIO'>): FileBounds => ({
  maxRecordBytes: config.MAX_RECORD_BYTES,
  maxColumns: config.MAX_COLUMNS,
  maxDecompressedBytes: config.MAX_DECOMPRESSED_BYTES,
  maxGzipRatio: config.MAX_GZIP_RATIO,
});

/** A file broke a bound: its message starts with the reason's code and names the setting. */
export class FileBoundError extends Error {
  constructor(
    readonly code: 'record_too_long' | 'too_many_columns' | 'gzip_too_large' | 'gzip_ratio',
    detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'FileBoundError';
  }
}

export const recordTooLong = (line: number, maxRecordBytes: number) =>
  new FileBoundError('record_too_long', `the record at line ${line} runs past MAX_RECORD_BYTES (${maxRecordBytes} bytes) without ending`);

export const tooManyColumns = (line: number, maxColumns: number) =>
  new FileBoundError('too_many_columns', `the record at line ${line} has more than MAX_COLUMNS (${maxColumns}) fields`);

const MAX_REASON_CHARS = 500;

/**
 * An error's message as a file's rejection reason: csv-parse quotes the field it stopped at, which may be
 * up to MAX_RECORD_BYTES, so only its start is kept: job results, the report and etl_run_files stay small.
 */
export const reasonText = (message: string) => (message.length > MAX_REASON_CHARS ? `${message.slice(0, MAX_REASON_CHARS)}…` : message);

/** A ratio says nothing about a file of a few bytes: it is checked once this much has come out. */
const RATIO_FLOOR_BYTES = 1 << 20;

/**
 * Passes a `.gz` file's inflated bytes on, counting them: past
 * `maxDecompressedBytes`, or past `maxGzipRatio` times `compressedBytes` (the
 * file's size on disk) once over 1 MiB, it fails with a FileBoundError.
 */
export function inflateBound(compressedBytes: number, bounds: Pick<FileBounds, 'maxDecompressedBytes' | 'maxGzipRatio'>): Transform {
  const byRatio = Math.max(RATIO_FLOOR_BYTES, bounds.maxGzipRatio * compressedBytes);
  let inflated = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      inflated += chunk.length;
      if (inflated > bounds.maxDecompressedBytes) {
        done(new FileBoundError('gzip_too_large', `inflates past MAX_DECOMPRESSED_BYTES (${bounds.maxDecompressedBytes} bytes)`));
      } else if (inflated > byRatio) {
        done(new FileBoundError('gzip_ratio', `inflates to more than MAX_GZIP_RATIO (${bounds.maxGzipRatio}) times its ${compressedBytes} bytes`));
      } else done(null, chunk);
    },
  });
}
