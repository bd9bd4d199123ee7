import { uncompressSync } from 'snappy';

/**
 * Snappy decompression of Parquet pages (raw blocks, not the framed format)
 * done natively (napi-rs `snappy`): hyparquet's JavaScript codec was the
 * largest single cost of reading lake parts. Writing keeps hyparquet-writer's
 * JavaScript compressor: the native one was 20 % faster but made parts 53 %
 * bigger (it finds fewer matches in dictionary indexes), measured on 1M events.
 */
export const SNAPPY_DECOMPRESSORS = {
  SNAPPY: (input: Uint8Array): Uint8Array => uncompressSync(input, { asBuffer: true }) as Buffer,
};
