export { LAKE_LAYOUT, listenDateOf, partFileName } from './layout.ts';
export { LakePartWriter, LAKE_PARQUET_SCHEMA, type LakeEvent } from './part-writer.ts';
export { readLakePart, type LakeRow } from './part-reader.ts';
