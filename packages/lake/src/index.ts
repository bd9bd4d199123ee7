export { LAKE_LAYOUT, listenDateOf, partFileName, USER_BUCKETS, userBucketOf, bucketsOfPass, passOfBucket } from './layout.ts';
export { LakePartWriter, LAKE_COLUMN_ENCODING, LAKE_PARQUET_SCHEMA, SOURCE_FILES_KEY, type LakeEvent, type LakeTrack } from './part-writer.ts';
export { openLakePart, readLakeColumns, type LakeColumns, type LakeColumnName, type LakePartReader } from './part-reader.ts';
export { lakeTrackOf } from './track.ts';
export { LakeTrackTable } from './track-table.ts';
export { LakeParquetFile, type LakeGroupRows } from './lake-parquet.ts';
export { rewritePart, type PartEnrichment } from './part-rewrite.ts';
export type { LakePlays } from './play-columns.ts';
export { mergeKpiPartials, readKpiPartialHeader, writeKpiPartial } from './artifacts/kpi-partial.ts';
