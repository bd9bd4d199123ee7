export { KpiAccumulator, type EncodedPartial, type TrackInfo, type TrackInfoBytes } from './accumulator.ts';
export { KpiMerge } from './merge.ts';
export {
  decodePartialHeader,
  partialHeaderBytes,
  PartialFormatError,
  PARTIAL_PREFIX_BYTES,
  PARTIAL_SHARDS,
  PARTIAL_VERSION,
  shardOfHash,
  type PartialHeader,
} from './partial.ts';
export type { GenreKpiRow, HourlyKpiRow, KpiTables } from './tables.ts';
export { EventKeySet } from './event-key-set.ts';
export { copyBytes, hashBytes, mixInt32, StringPool, Utf8Column, withRoom, type Utf8Slice } from './string-pool.ts';
export { UserHourMasks } from './user-hour-masks.ts';
