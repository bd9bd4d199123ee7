export { redisConnection, checkRedis, explainRedisError, redisAddress, redisDurabilityProblems, type RedisClient, type RedisSettings } from './redis.ts';
export { redisPassword, redisTlsOptions, type RedisSecuritySettings } from './redis-options.ts';
export { jobOptions, nextRetryDelay, retryAttempts, retryDelay, PipelineQueues } from './queues.ts';
export { startRun, newRunId, activeKey, type StartRunOptions, type StartedRun } from './start-run.ts';
export { addChildJobs, enterStep, ignoredFailures, type ChildJob, type Children } from './children.ts';
export { readRunJobs, readRunProgress, RowProgress, type RunProgress, type StageProgress } from './progress.ts';
export {
  readRunHealth,
  readQueueWorkers,
  readOrphanedJobs,
  readUnrenewedLocks,
  NO_WORKER_GRACE_MS,
  type RunHealth,
  type StageHealth,
  type OrphanedJob,
  type UnreachableJob,
  type StalledJob,
} from './health.ts';
export {
  defineStage,
  runStageWorker,
  threadModuleBeside,
  workerName,
  type StageDefinition,
  type KindProcessor,
  type StageProcessors,
  type RunningWorker,
} from './worker.ts';
export { threadProcessor } from './thread.ts';
export { schedulerFiringTime, startSandboxThreads } from './bullmq-internals.ts';
export { jobHoldersKey } from './worker-deaths.ts';
export { createServiceContext, type ServiceContext } from './context.ts';
export { serve, type Service } from './serve.ts';
export { checkWarehouseAtStart } from './warehouse-check.ts';
export { alertOnRun, deliverAlert, ensureFreshnessCheck, freshnessCheckEveryMs, isStale, runAlert, staleAlert, startAlertWorker } from './alerts.ts';
export { startRecompute } from './start-recompute.ts';
export { catalogueJobs, catalogueShardCounts, MAX_CATALOGUE_SHARDS } from './catalogue-jobs.ts';
export { CancelWatch, cancelRun, claimRunCommit, isRunCancelled, markCancelled, runCancelledError, throwIfCancelled, type CancelOutcome } from './cancel.ts';
export { CredentialedSourceError, runSources } from './run-sources.ts';
export { restoreRecordedSources, retryRun, RetryRefusedError, type RetryScope } from './retry-run.ts';
export {
  BACKFILL_RECHECK_MS,
  backfillRunsInFlight,
  cancelBackfill,
  listBackfills,
  planBackfill,
  readBackfill,
  resumeBackfill,
  startBackfill,
  wakeBackfill,
  type BackfillPlan,
  type BackfillState,
  type BackfillView,
  type PlannedDate,
} from './backfill.ts';
export { checkDeadlines, dueDate, readDeadlines, watchDeadlines, type DeadlineLevel, type DeadlineStatus } from './deadlines.ts';
export { readSensorStatus, senseLandings, watchLandings, type SensorStatus } from './sensor.ts';
export { nextSnapshotSeq, snapshotSequenceKey } from './sequence.ts';
export { markRunEnded, sweepEndedRun, holdsJobLock, LockLostError, updateDataWhileLocked } from './attempt.ts';
export { startProcessTracing, stopTracing } from './tracing.ts';
export { emitRunEnd, lineageEvent, lineageRunId, type LineageEvent } from './lineage.ts';
export { runBuild } from './run-build.ts';
