/**
 * @vlm-grpo/grpo: Group Relative Policy Optimization, TRL-exact, on any policy engine implementing
 * {@link PolicyEngine} (per-token log-probs forward, dL/dlogp backward, AdamW step) and any reward
 * functions. The loss, its gradient per token, the advantages, the learning-rate schedules and the
 * trainer are plain TypeScript: no ML framework is loaded by this package.
 * @packageDocumentation
 */

/** The npm name of this package. */
export const PACKAGE_NAME = '@vlm-grpo/grpo' as const;

export { GrpoError, RewardFunctionError, type GrpoErrorCode } from './errors.js';
export {
  POLICY_ENGINE_METHODS,
  missingEngineMethods,
  type AdamWHyperParameters,
  type LogProbOptions,
  type OptimizerStateData,
  type OptimizerStepOptions,
  type ParameterState,
  type PerTokenResult,
  type PolicyEngine,
  type PolicySampleOptions,
  type PolicySampleResult,
  type TokenBatch,
} from './policy-engine.js';
export {
  ADVANTAGE_EPSILON,
  aggregateRewards,
  computeAdvantages,
  isZeroStd,
  nanMean,
  nanStd,
  type AdvantageOptions,
  type AdvantageResult,
  type AggregateRewardsOptions,
  type AggregatedRewards,
  type RewardAggregation,
  type ScaleRewards,
} from './advantages.js';
export {
  scoreRewards,
  softOverlongPunishment,
  toRewardFunction,
  type RewardContext,
  type RewardFn,
  type RewardFunction,
  type RewardScores,
} from './rewards.js';
export {
  aggregateLoss,
  aggregationWeights,
  clippedSurrogate,
  grpoLoss,
  importanceLogWeights,
  k3Kl,
  k3KlGrad,
  type AggregateLossOptions,
  type ClipOptions,
  type GrpoLossInputs,
  type GrpoLossOptions,
  type GrpoLossOutput,
  type ImportanceSamplingLevel,
  type LossType,
  type Rows,
} from './loss.js';
export { learningRateAt, warmupStepsFromRatio, type LrScheduleOptions, type LrSchedulerType } from './lr-schedule.js';
export { grpoConfigSchema, resolveGrpoConfig, type GRPOConfig, type GRPOConfigInput } from './config.js';
export { SeededRng } from './rng.js';
export {
  TRAINER_STATE_VERSION,
  assertSameParameters,
  decodeTrainerState,
  encodeTrainerState,
  type EncodedTrainerState,
  type GRPOTrainerState,
} from './state.js';
export {
  GRPOTrainer,
  type GRPODatasetEntry,
  type GRPOMetrics,
  type GRPOTrainOptions,
  type GRPOTrainerOptions,
} from './trainer.js';
