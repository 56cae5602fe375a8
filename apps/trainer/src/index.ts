/**
 * @vlm-grpo/trainer: the application that composes the @vlm-grpo packages into the GRPO loop
 * (`nx run trainer:train`). This entry point exports the system, its configuration, the file
 * schemas of a run folder and the runtime pieces (logger, checkpoints, tracking) it is built from.
 * @packageDocumentation
 */
export * from './config/config-schema.js';
export { CONFIG_KEY_DOCS } from './config/config-docs.js';
export {
  DEFAULT_CONFIG_FILE,
  configIssues,
  expandDottedKeys,
  mergeConfigLayers,
  parseCliValue,
  readConfigFile,
  resolveTrainerConfig,
  type JsonObject,
  type ResolveConfigOptions,
} from './config/load-config.js';
export { ConfigValidationError, TrainerError, type ConfigIssue, type TrainerErrorCode } from './errors.js';
export { CLI_COMMANDS, parseCliArguments, type CliArguments, type CliCommand } from './cli/args.js';
export { configKeyHelp, helpText, type ConfigKeyHelp } from './cli/help.js';
export { runCli, type CliIo } from './cli.js';
export { RESUME_ADJUSTABLE_KEYS, RUN_CONFIG_FILE, RUN_FILES, VLMGRPOSystem, type EnhanceOutput, type EvaluationOutput, type VLMGRPOSystemOptions } from './vlm-grpo-system.js';
export {
  bestSchema,
  finalResultsSchema,
  metricsLineSchema,
  stageTimingsSchema,
  trainerStateSchema,
  validationSummarySchema,
  type FinalResults,
  type MetricsLine,
  type StageTimings,
  type TrainerState,
  type ValidationSummary,
} from './results/schemas.js';
export { contentWords, lengthInRangeReward, singular, STOP_WORDS, subjectKeptReward, words } from './rewards/text-rewards.js';
export { MAX_COMBINED_REWARD, RunningNormalizer, TrainingRewards, type RewardBatchReport, type RewardTimings, type RunningStats, type TrainingRewardsOptions } from './rewards/training-rewards.js';
export {
  CHECKPOINT_MANIFEST,
  CheckpointManager,
  checkpointFolderName,
  checkpointFileSchema,
  checkpointManifestSchema,
  readCheckpointManifest,
  type CheckpointEntry,
  type CheckpointFile,
  type CheckpointManifest,
  type CheckpointVerification,
} from './runtime/checkpoints.js';
export { FailureTracker, type FailureTrackerState, type IterationFailureSummary, type SampleFailure } from './runtime/failures.js';
export { LOG_LEVELS, Logger, type ConsoleOverlay, type LogLevel, type LogSink, type LoggerOptions } from './runtime/logger.js';
export { Progress, formatDuration, type ProgressOptions, type ProgressStream, type ProgressValues } from './runtime/progress.js';
export { RUN_LOCK_FILE, RunLock, ownerIsAlive, processStartTime, type RunLockOwner } from './runtime/run-lock.js';
export { SAME_STOP_WINDOW_MS, StopSignal, type StopSignalName } from './runtime/stop-signal.js';
export { adaptImageRewards, adaptRenderer, loadComponents, loadRewardModels, type RewardModels } from './system/load-components.js';
export { adamWFromConfig, createPolicyEngine, engineBackedPolicy, type PolicyEngineChoice, type PolicyWebGpuModule, type PolicyWrapperLike } from './system/policy-engine.js';
export {
  IMAGE_REWARD_NAMES,
  type ComponentDevices,
  type ComponentScope,
  type EnhanceOptions,
  type EnhancedPrompt,
  type ImageRenderer,
  type ImageRewardModel,
  type ImageRewardName,
  type ItemError,
  type RenderedImage,
  type RewardComponents,
  type SystemComponents,
  type TrainablePolicy,
} from './system/ports.js';
export { WandbTracker, type WandbOptions, type WandbTableRow } from './tracking/wandb.js';
export { imageComponentsOf, type RolloutBackend, type RolloutKey, type RolloutMetrics, type RolloutRequest } from './rollout/rollout-backend.js';
export { LocalRolloutBackend } from './rollout/local-backend.js';
export { RedisRolloutBackend, type RedisRolloutBackendOptions } from './rollout/redis-backend.js';
export { RolloutWorker, type RolloutWorkerOptions, type WorkerExit } from './rollout/worker.js';
export { renderAndScoreGroups, type GroupOutcome, type GroupRolloutOptions, type GroupTimings, type RolloutGroup } from './rollout/group-rollout.js';
export { canonicalJson, identityDifferences, modelFingerprint, rolloutConfigHash, rolloutIdentity, type RolloutIdentity } from './rollout/config-hash.js';
export { ROLLOUT_FORMAT, ROLLOUT_QUEUE, groupJobSchema, groupResultSchema, renderJobSchema, renderResultSchema, scoreJobSchema, scoreResultSchema, type GroupJob, type GroupResult, type RenderJob, type ScoreJob } from './rollout/job-schema.js';
export { DEFAULT_REDIS_URL, REDIS_URL_ENV, redactRedisUrl, redisOptions, redisUrlOf } from './rollout/redis-connection.js';
export { chunkedSampling, type ChunkedSamplingOptions } from './rollout/chunked-policy.js';
