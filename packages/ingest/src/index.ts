export { parseListenTime } from './timestamp.ts';
export { STREAM_COLUMNS, validateStreamRow, type StreamRowResult } from './stream-rules.ts';
export { duplicatedColumns, missingColumns, parseHeader } from './header.ts';
export { HEADER_SCAN_BYTES, scanChunks, type ScannedChunk, type ScanResult } from './chunk-scan.ts';
export { csvRecordBatches, csvRecords, CsvFileError, type CsvBatch, type CsvRecord } from './csv-parse-records.ts';
export { openStreamFile, segmentsReadAhead, WHOLE_READ_BYTES, type OpenableSegment } from './open.ts';
export { scanStreamBuffer, scanStreamFile, streamHeaderProblem, UNREADABLE_REASON, type ScannedStreamFile } from './stream-header.ts';
export {
  SONG_COLUMNS,
  USER_COLUMNS,
  CatalogueFixCounts,
  validateSongRow,
  validateUserRow,
  type Song,
  type CatalogueRowProblem,
  type CatalogueFix,
} from './catalogue.ts';
export { readCatalogueSource, SourceFormatError, type CatalogueRows, type CsvRowBytes, type SourceRow, type CatalogueLookup } from './catalogue-source.ts';
export { plainSongRow, plainSongScratch, plainUserRow, type PlainSong } from './catalogue-row-bytes.ts';
export { inShard, RunTrackKeys, RunUserKeys, TrackFingerprintSet, type TrackIdList } from './catalogue-keys.ts';
export { UserIdSet } from './user-id-set.ts';
export { forEachLine } from './lines.ts';
export { csvByteBatches, fieldText, grow, recordFields, WholeCsvReader, type CsvByteBatch } from './csv-byte-reader.ts';
export { StreamRowChecker, readUserId } from './stream-row-checker.ts';
export { FileDecisions, fileRejectionReasons, segmentRejection, type FileOutcome } from './file-rules.ts';
export { FileBoundError, fileBoundsOf, reasonText, type FileBounds, type RecordBounds } from './bounds.ts';
