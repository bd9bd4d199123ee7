export {
  ObjectMissingError,
  isPermissionError,
  moveOnce,
  type ObjectInfo,
  type ObjectStore,
  type ByteRange,
  type ListOptions,
  type SkippedEntry,
} from './object-store.ts';
export { createObjectStore, type StorageOptions } from './router.ts';
export { S3_REQUEST_KINDS, s3RequestCounts, type S3RequestKind } from './s3-store.ts';
export { joinUrl, basename, relativeKey } from './url.ts';
export { readConcatenated, readLineBatches } from './concat.ts';
export { WritesInFlight } from './in-flight.ts';
