// The file BullMQ loads in each worker thread. A compiled stage module (.js) runs on plain node. A
// stage module from the sources (.ts) needs tsx, whose hooks threads do not inherit when the parent
// registered them through the API (bin/musicflow.mjs) or runs under vitest: registered here (the
// source export condition comes as a flag, see threadFlags in worker.ts). Then it hands BullMQ the
// stage's processor.
import { workerData } from 'node:worker_threads';

const stageModule = workerData.musicflowStageModule;
if (stageModule.endsWith('.ts')) (await import('tsx/esm/api')).register();
const { default: processor } = await import(stageModule);
export default processor;
