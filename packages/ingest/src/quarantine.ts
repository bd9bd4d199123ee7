import { PassThrough } from 'node:stream';
import { stringify } from 'csv-stringify/sync';
import type { ObjectStore } from '@musicflow/storage';

export const QUARANTINE_HEADER = ['file', 'line', 'reason', 'field', 'value', 'row'] as const;

/**
 * Bad rows with file, line and reason, streamed to one CSV object. The object
 * is only created when the first bad row arrives.
 */
export class QuarantineWriter {
  private out?: PassThrough;
  private upload?: Promise<unknown>;
  count = 0;

  constructor(
    private readonly store: ObjectStore,
    readonly url: string,
    private readonly file: string,
    private readonly withHeader = true,
  ) {}

  async add(line: number, reason: string, field: string, value: string, row: readonly string[]): Promise<void> {
    if (!this.out) {
      this.out = new PassThrough();
      this.upload = this.store.write(this.url, this.out);
      this.upload.catch(() => undefined);
      if (this.withHeader) this.out.write(stringify([QUARANTINE_HEADER]));
    }
    this.count++;
    const text = stringify([[this.file, line, reason, field, value, stringify([row]).trimEnd()]]);
    if (!this.out.write(text)) await new Promise((resolve) => this.out!.once('drain', resolve));
  }

  /** Finishes the object; returns its URL, or undefined when no row was bad. */
  async close(): Promise<string | undefined> {
    if (!this.out) return undefined;
    this.out.end();
    await this.upload;
    return this.url;
  }

  abort(err: Error): void {
    this.out?.destroy(err);
  }
}
