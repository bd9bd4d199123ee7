export { redisConnection, checkRedis } from './redis.ts';
export { jobOptions, PipelineQueues } from './queues.ts';
export { startRun, newRunId, activeKey, type StartRunOptions, type StartedRun } from './start-run.ts';
export { spawnChunkJobs } from './spawn.ts';
export { readRunJobs, readRunProgress, type RunProgress, type StageProgress } from './progress.ts';
export {
  defineStage,
  runStageWorker,
  threadModuleBeside,
  workerName,
  type StageDefinition,
  type StageProcessor,
  type RunningWorker,
} from './worker.ts';
export { threadProcessor } from './thread.ts';
export { schedulerFiringTime, startSandboxThreads } from './bullmq-internals.ts';
export { createServiceContext, type ServiceContext } from './context.ts';
export { serve, type Service } from './serve.ts';
