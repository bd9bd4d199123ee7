/**
 * Writes that finish in the background while the caller goes on, at most
 * `limit` at once: a chunk of small files closes an object per file, and
 * waiting for each (a few round trips to the disk or S3) would be most of it.
 */
export class WritesInFlight {
  private pending = 0;
  private failure: { error: unknown } | undefined;
  /** Adders waiting for a write to end, woken one a write. */
  private readonly waiting: (() => void)[] = [];
  /** Drains waiting for the last write to end. */
  private readonly drains: (() => void)[] = [];

  constructor(private readonly limit: number) {}

  /**
   * Adds `write`; waits only while `limit` writes are still going. A failure is thrown by `drain`. A write that
   * ends wakes one waiting adder: a race of every write in flight at each add was a reaction on each of them
   * (an archive job of 2,000 files made 32,000).
   */
  async add(write: Promise<unknown>): Promise<void> {
    this.pending++;
    write.then(
      () => this.ended(),
      (error: unknown) => {
        this.failure ??= { error };
        this.ended();
      },
    );
    if (this.pending >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private ended(): void {
    this.pending--;
    this.waiting.shift()?.();
    if (this.pending === 0) for (const resolve of this.drains.splice(0)) resolve();
  }

  /** Waits for every write added; throws the first that failed. */
  async drain(): Promise<void> {
    if (this.pending > 0) await new Promise<void>((resolve) => this.drains.push(resolve));
    if (this.failure) throw this.failure.error;
  }
}
