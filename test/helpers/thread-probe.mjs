// A sandboxed BullMQ processor for tests: answers with when this thread loaded it.
import { threadId } from 'node:worker_threads';

const loadedAt = Date.now();
export default async () => ({ threadId, loadedAt });
