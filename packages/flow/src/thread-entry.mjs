// The file BullMQ loads in each worker thread. Threads do not inherit the parent's tsx hooks when
// it registered them through the API (bin/musicflow.mjs) or runs under vitest: a stage module from
// the sources (.ts) gets them registered here; a compiled one (.js) runs on plain node. Then it
// hands BullMQ the stage's processor.
import { workerData } from 'node:worker_threads';

const stageModule = workerData.musicflowStageModule;
if (stageModule.endsWith('.ts')) (await import('./source-loader.mjs')).registerSourceLoader();
const { default: processor } = await import(stageModule);
export default processor;
