/** The two helpers that keep a chunk of small files from waiting per file: writes in flight, progress by rows. */
import { describe, expect, it } from 'vitest';
import { RowProgress } from '@musicflow/flow';
import { WritesInFlight } from '@musicflow/storage';

const later = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
}
/** A promise the test settles itself: no race between timers. */
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}
/** Lets every promise callback queued so far run (a macrotask comes after them all). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('WritesInFlight', () => {
  it('lets the caller go on until `limit` writes are pending, then waits for one', async () => {
    const writes = new WritesInFlight(2);
    const done: number[] = [];
    const first = deferred<number>();
    const second = deferred<number>();
    const track = (write: Deferred<number>) => write.promise.then((v) => done.push(v));
    await writes.add(track(first));
    // The limit is reached with the second write: add waits, whatever the timers, until one of them is done.
    let added = false;
    const adding = writes.add(track(second)).then(() => (added = true));
    await settle();
    expect(added).toBe(false);
    second.resolve(2);
    await adding;
    expect(done).toEqual([2]);
    first.resolve(1);
    await writes.drain();
    expect(done).toEqual([2, 1]);
  });

  it('keeps at most `limit` writes going over many, ending in any order, and drains them all', async () => {
    const writes = new WritesInFlight(4);
    let going = 0;
    let most = 0;
    let ended = 0;
    for (let i = 0; i < 200; i++) {
      going++;
      most = Math.max(most, going);
      await writes.add(
        later((i * 7) % 5, undefined).then(() => {
          going--;
          ended++;
        }),
      );
    }
    await writes.drain();
    expect(most).toBe(4);
    expect(ended).toBe(200);
  });

  it('throws the first failure at drain, also of a write that failed long before', async () => {
    const writes = new WritesInFlight(8);
    await writes.add(Promise.reject(new Error('disk full')));
    await later(5, undefined);
    await writes.add(later(5, 'ok'));
    await expect(writes.drain()).rejects.toThrow('disk full');
  });
});

describe('RowProgress', () => {
  it('reports every 50,000 rows and at the end, not at every call', async () => {
    const reports: unknown[] = [];
    const progress = new RowProgress({ updateProgress: async (p: unknown) => void reports.push(p) } as never);
    for (let rows = 500; rows <= 120_000; rows += 500) await progress.report(rows, rows / 1200);
    await progress.done(120_000);
    expect(reports).toEqual([
      { rows: 50_000, percent: 50_000 / 1200 },
      { rows: 100_000, percent: 100_000 / 1200 },
      { rows: 120_000, percent: 100 },
    ]);
  });
});
