/**
 * Learning-rate schedules with linear warm-up, as transformers' `get_scheduler` defines them
 * (`optimization.py`): the one implementation in the workspace, used by `GRPOTrainer` and by
 * @vlm-grpo/vlm's `sft`. `step` is the number of optimizer updates already applied (0 for the first update),
 * exactly like a PyTorch LambdaLR stepped after each optimizer step, so with warm-up the first
 * update uses learning rate 0:
 *   warm-up (step < W):  lr · step / max(1, W)
 *   constant:            lr (no warm-up at all, as transformers' `constant`)
 *   constant_with_warmup: lr after the warm-up
 *   linear:              lr · max(0, (S − step) / max(1, S − W))
 *   cosine:              lr · max(0, ½·(1 + cos(π · (step − W) / max(1, S − W))))
 * (S = total optimizer updates, W = warm-up updates.) As in transformers, cosine is not clamped
 * past S (it rises again); linear stays at 0.
 * Departure: an optional floor for linear/cosine, `minLearningRate` (absolute) or
 * `minLearningRateRatio` (fraction of the peak, transformers' `min_lr_rate` of
 * `cosine_with_min_lr`): lr_t = floor + (lr − floor) · factor. Both 0 = transformers.
 */
import { GrpoError } from './errors.js';

/** Schedule shape (transformers `lr_scheduler_type`). */
export type LrSchedulerType = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';

/** Parameters of {@link learningRateAt}. */
export interface LrScheduleOptions {
  /** Peak learning rate. */
  learningRate: number;
  /** Shape (default: 'linear', transformers' default). */
  schedulerType?: LrSchedulerType;
  /** Warm-up updates W (default: 0). */
  warmupSteps?: number;
  /** Total optimizer updates S (used by linear and cosine). */
  totalSteps: number;
  /** Absolute floor of the linear/cosine decay (default: 0); exclusive with `minLearningRateRatio`. */
  minLearningRate?: number;
  /** Floor of the linear/cosine decay as a fraction of the peak (default: 0). */
  minLearningRateRatio?: number;
}

/** Warm-up updates from a ratio of the total, as transformers: ceil(S · ratio); ratio in [0, 1]. */
export function warmupStepsFromRatio(totalSteps: number, warmupRatio: number): number {
  if (!(warmupRatio >= 0 && warmupRatio <= 1)) {
    throw new GrpoError('GRPO_INVALID_ARGUMENT', `warmupRatio: expected a number in [0, 1], got ${warmupRatio}`);
  }
  return Math.ceil(totalSteps * warmupRatio);
}

/** Learning rate for the update that follows `step` completed updates (see the file header). */
export function learningRateAt(step: number, options: LrScheduleOptions): number {
  const type = options.schedulerType ?? 'linear';
  const warmup = options.warmupSteps ?? 0;
  const total = options.totalSteps;
  const lr = options.learningRate;
  if (options.minLearningRate !== undefined && options.minLearningRateRatio !== undefined) {
    throw new GrpoError('GRPO_INVALID_ARGUMENT', 'learningRateAt: set minLearningRate or minLearningRateRatio, not both');
  }
  const floor = options.minLearningRate ?? lr * (options.minLearningRateRatio ?? 0);
  if (type === 'constant') return lr;
  if (step < warmup) return (lr * step) / Math.max(1, warmup);
  if (type === 'constant_with_warmup') return lr;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  const factor =
    type === 'linear'
      ? Math.max(0, (total - step) / Math.max(1, total - warmup))
      : Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
  return floor + (lr - floor) * factor;
}
