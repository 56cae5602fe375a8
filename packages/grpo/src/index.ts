/**
 * @vlm-grpo/grpo: Group Relative Policy Optimization in TensorFlow.js, TRL-exact, on any policy
 * implementing {@link GrpoPolicy} and any reward functions. The policy contract, AdamW, gradient
 * clipping and the learning-rate schedules come from @vlm-grpo/vlm and are re-exported.
 * @packageDocumentation
 */

/** The npm name of this package. */
export const PACKAGE_NAME = '@vlm-grpo/grpo' as const;

export { GrpoError, RewardFunctionError, type GrpoErrorCode } from './errors.js';
// The policy contract, the optimizer, clipping and the schedules are @vlm-grpo/vlm's (their only
// implementation); re-exported here so that this package's documented API stays complete.
export type {
  GrpoPolicy,
  PolicySampleOptions,
  PolicySampleResult,
  SequenceLogProbsOptions,
} from '@vlm-grpo/vlm';
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
  clippedSurrogate,
  grpoLoss,
  importanceLogWeights,
  k3Kl,
  stopGradient,
  type AggregateLossOptions,
  type ClipOptions,
  type GrpoLossInputs,
  type GrpoLossOptions,
  type GrpoLossOutput,
  type ImportanceSamplingLevel,
  type LossType,
} from './loss.js';
export {
  AdamW,
  clipByGlobalNorm,
  learningRateAt,
  warmupStepsFromRatio,
  type AdamWOptions,
  type AdamWState,
  type LrScheduleOptions,
  type LrSchedulerType,
  type TensorData,
} from '@vlm-grpo/vlm';
export { grpoConfigSchema, resolveGrpoConfig, type GRPOConfig, type GRPOConfigInput } from './config.js';
export { SeededRng } from './rng.js';
export {
  TRAINER_STATE_VERSION,
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
export { loadTf, type Tf } from './tf.js';
