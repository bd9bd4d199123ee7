import { parse } from 'csv-parse/sync';

/** Column names of a header record; the BOM and surrounding spaces are not part of a name. */
export function parseHeader(headerBytes: Buffer): string[] {
  const rows = parse(headerBytes, { bom: true, relax_column_count: true, to_line: 1 }) as string[][];
  return (rows[0] ?? []).map((name) => name.trim());
}

export function missingColumns(header: readonly string[], required: readonly string[]): string[] {
  return required.filter((name) => !header.includes(name));
}

/** Required columns the header names more than once: which one holds the value would be a guess. */
export function duplicatedColumns(header: readonly string[], required: readonly string[]): string[] {
  return required.filter((name) => header.indexOf(name) !== header.lastIndexOf(name));
}
