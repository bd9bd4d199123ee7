/**
 * Writes that finish in the background while the caller goes on, at most
 * `limit` at once: a chunk of small files closes an object per file, and
 * waiting for each (a few round trips to the disk or S3) would be most of it.
 */
export class WritesInFlight {
  private readonly pending = new Set<Promise<unknown>>();
  private failure: { error: unknown } | undefined;

  constructor(private readonly limit: number) {}

  /** Adds `write`; waits only while `limit` writes are still going. A failure is thrown by `drain`. */
  async add(write: Promise<unknown>): Promise<void> {
    const settled: Promise<unknown> = write.then(
      (): void => void this.pending.delete(settled),
      (error: unknown): void => {
        this.pending.delete(settled);
        this.failure ??= { error };
      },
    );
    this.pending.add(settled);
    if (this.pending.size >= this.limit) await Promise.race(this.pending);
  }

  /** Waits for every write added; throws the first that failed. */
  async drain(): Promise<void> {
    await Promise.all(this.pending);
    if (this.failure) throw this.failure.error;
  }
}
