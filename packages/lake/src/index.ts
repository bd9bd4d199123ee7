export { LAKE_LAYOUT, listenDateOf, partFileName, USER_BUCKETS, userBucketOf, bucketsOfPass, COARSE_BUCKET_SPAN } from './layout.ts';
export { LakePartWriter, LAKE_COLUMN_ENCODING, LAKE_PARQUET_SCHEMA, type LakeEvent, type LakeTrack } from './part-writer.ts';
export { PART_FORMAT_KEY, PART_FORMAT_VERSION, PartFormatError, partFormatOf, SOURCE_FILES_KEY, type PartFormat } from './part-format.ts';
export {
  openLakePart,
  partKeysAtMost,
  readLakeColumns,
  type LakeColumns,
  type LakeColumnName,
  type LakePartReader,
  type GroupRows,
  type PartTail,
} from './part-reader.ts';
export { lakeTrackOf } from './track.ts';
export { LakeTrackTable } from './track-table.ts';
export { LAKE_CREATED_BY, LakeParquetFile, PAGE_ROWS, type LakeGroupRows } from './lake-parquet.ts';
export { rewritePart, type PartEnrichment } from './part-rewrite.ts';
export type { LakePlays } from './play-columns.ts';
export * from './artifacts/index.ts';
export { lakeDatesIn, lakePartsIn, type LakeDateRange } from './lake-dates.ts';
