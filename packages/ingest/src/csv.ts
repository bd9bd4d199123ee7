import { parse, CsvError } from 'csv-parse';
import type { Readable } from 'node:stream';

export interface CsvRecord {
  fields: string[];
  /** Physical line number in the source file where the record ends. */
  line: number;
}

/** The whole file is unusable: it cannot be parsed as CSV from `line` on. */
export class CsvFileError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

/**
 * Records of a CSV byte stream as arrays of strings (no casting in the parser:
 * validation owns types). RFC 4180 quotes, CRLF or LF, a BOM and empty lines
 * are accepted. `firstLine` is the physical line number of the stream's first
 * byte, so chunks of one file report the file's own line numbers.
 */
export async function* csvRecords(bytes: Readable, firstLine = 1): AsyncGenerator<CsvRecord> {
  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true });
  bytes.on('error', (err) => parser.destroy(err));
  bytes.pipe(parser);
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      yield { fields: record, line: firstLine + info.lines - 1 };
    }
  } catch (err) {
    if (err instanceof CsvError) {
      const lines = (err as CsvError & { lines?: number }).lines ?? 1;
      throw new CsvFileError(`line ${firstLine + lines - 1}: ${err.message}`, firstLine + lines - 1);
    }
    throw err;
  } finally {
    bytes.unpipe(parser);
    bytes.destroy();
  }
}
