// The file BullMQ loads in each worker thread. Threads do not inherit the parent's tsx hooks when
// it registered them through the API (bin/musicflow.mjs) or runs under vitest: register them here,
// then hand BullMQ the stage's processor.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { default: processor } = await import(workerData.musicflowStageModule);
export default processor;
