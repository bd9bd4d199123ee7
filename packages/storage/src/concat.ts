import { Readable } from 'node:stream';
import type { ObjectStore } from './object-store.ts';

/** One stream of `head` then the objects at `urls` in order, each opened only when the previous one is done. */
export function readConcatenated(store: ObjectStore, urls: readonly string[], head = ''): Readable {
  return Readable.from(
    (async function* () {
      if (head) yield Buffer.from(head);
      for (const url of urls) yield* await store.read(url);
    })(),
  );
}
