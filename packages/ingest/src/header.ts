import { parse } from 'csv-parse/sync';

/** Column names of a header record; the BOM and surrounding spaces are not part of a name. */
/** Headers already parsed: a day of thousands of small files has one header, parsed once, not once per file. */
const parsedHeaders = new Map<string, readonly string[]>();
const PARSED_HEADERS_KEPT = 64;

export function parseHeader(headerBytes: Buffer): string[] {
  const key = headerBytes.toString('latin1');
  let names = parsedHeaders.get(key);
  if (!names) {
    const rows = parse(headerBytes, { bom: true, relax_column_count: true, to_line: 1 });
    names = (rows[0] ?? []).map((name) => name.trim());
    if (parsedHeaders.size >= PARSED_HEADERS_KEPT) parsedHeaders.clear();
    parsedHeaders.set(key, names);
  }
  return [...names];
}

export function missingColumns(header: readonly string[], required: readonly string[]): string[] {
  return required.filter((name) => !header.includes(name));
}

/** Required columns the header names more than once: which one holds the value would be a guess. */
export function duplicatedColumns(header: readonly string[], required: readonly string[]): string[] {
  return required.filter((name) => header.indexOf(name) !== header.lastIndexOf(name));
}
