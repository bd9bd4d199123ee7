import type { FastifyInstance } from 'fastify';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { ApiDeps } from '../deps.ts';

export const BULL_BOARD_PATH = '/admin/queues';

/**
 * Bull Board at /admin/queues: every stage queue plus the scheduler queue, with
 * job progress and data. Access is checked by the app-wide auth hook (every
 * route under this prefix is `admin`).
 */
export async function registerBullBoard(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const serverAdapter = new FastifyAdapter();
  serverAdapter.setBasePath(BULL_BOARD_PATH);
  createBullBoard({
    queues: [...Object.values(deps.queues.queues), deps.schedulerQueue].map((q) => new BullMQAdapter(q)),
    serverAdapter,
    options: { uiConfig: { boardTitle: 'musicflow' } },
  });
  await app.register(serverAdapter.registerPlugin(), { prefix: BULL_BOARD_PATH });
}
