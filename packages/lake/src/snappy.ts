import { compressSync, uncompressSync } from 'snappy';

/**
 * Snappy, as Parquet pages use it (raw blocks, not the framed format), done
 * natively (napi-rs `snappy`): the JavaScript codecs of hyparquet and
 * hyparquet-writer were the largest single cost of reading lake parts and a
 * large part of writing them (README, Performance).
 */
export const SNAPPY_DECOMPRESSORS = {
  SNAPPY: (input: Uint8Array): Uint8Array => uncompressSync(input, { asBuffer: true }) as Buffer,
};

export const SNAPPY_COMPRESSORS = {
  SNAPPY: (input: Uint8Array): Uint8Array => compressSync(input),
};
