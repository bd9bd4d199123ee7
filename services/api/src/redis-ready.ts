import type { RedisClient } from '@musicflow/flow';
import { withDeadline } from './metrics.ts';

/**
 * Resolves once `connection` is ready (BullMQ starts connecting it on its own),
 * or after `ms` rejects with `describe(lastError)`.
 */
export async function redisReady(connection: RedisClient, ms: number, describe: () => string): Promise<void> {
  if (connection.status === 'ready') return;
  if (connection.status === 'wait') connection.connect().catch(() => undefined);
  let onReady: (() => void) | undefined;
  const ready = new Promise<boolean>((resolve) => connection.once('ready', (onReady = () => resolve(true))));
  const ok = await withDeadline(ready, ms);
  if (onReady) connection.off('ready', onReady);
  if (!ok) throw new Error(describe());
}
