import type { PipelineQueues } from './queues.ts';

/**
 * The sequence number of a KPI computation, from Redis' clock (one clock for
 * every host): a computation that reads a date's parts later takes a higher
 * one, and the warehouse's MERGE never lets a lower one win.
 */
export async function takeSnapshotSequence(queues: PipelineQueues): Promise<number> {
  const [seconds, micros] = await queues.connection.time();
  return Number(seconds) * 1_000_000 + Number(micros);
}
