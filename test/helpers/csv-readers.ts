import type { Readable } from 'node:stream';
import { csvByteBatches, csvRecords, recordFields, type CsvRecord } from '@musicflow/ingest';

/** The byte-level reader's records in csv-parse's shape, to run the same tests and comparisons on both. */
export async function* byteReaderRecords(bytes: Readable | Buffer[], firstLine?: number): AsyncGenerator<CsvRecord> {
  for await (const batch of csvByteBatches(bytes, firstLine)) {
    for (let r = 0; r < batch.records; r++) yield { fields: recordFields(batch, r), line: batch.lines[r]! };
  }
}

export interface CsvReader {
  name: string;
  records: (bytes: Readable, firstLine?: number) => AsyncGenerator<CsvRecord>;
}

/** csv-parse (the reference) and the byte-level reader of the stream files and catalogues. */
export const CSV_READERS: CsvReader[] = [
  { name: 'csv-parse', records: csvRecords },
  { name: 'byte reader', records: byteReaderRecords },
];
