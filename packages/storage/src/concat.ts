import { Readable } from 'node:stream';
import type { ByteRange, ObjectStore } from './object-store.ts';

/** One stream of `head` then the objects at `urls` in order, each opened only when the previous one is done. */
export function readConcatenated(store: ObjectStore, urls: readonly string[], head = ''): Readable {
  return Readable.from(
    (async function* () {
      if (head) yield Buffer.from(head);
      for (const url of urls) yield* await store.read(url);
    })(),
  );
}

/**
 * An object's lines (or a range's, cut at line ends), a read's worth at a time (empty lines included): a step
 * through the event loop a read, not a line (a run's artifacts have a line a file, thousands a chunk).
 */
export async function* readLineBatches(store: ObjectStore, url: string, range?: ByteRange): AsyncGenerator<string[]> {
  let rest = '';
  for await (const text of (await store.read(url, range)).setEncoding('utf8') as AsyncIterable<string>) {
    const lines = (rest + text).split('\n');
    rest = lines.pop()!;
    if (lines.length) yield lines;
  }
  if (rest) yield [rest];
}
