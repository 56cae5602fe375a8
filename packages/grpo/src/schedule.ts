/**
 * Learning-rate schedules with linear warm-up, as transformers' `get_scheduler` defines them
 * (`optimization.py`). `step` is the number of optimizer updates already applied (0 for the
 * first update), exactly like a PyTorch LambdaLR stepped after each optimizer step:
 *   warm-up (step < W):  lr · step / max(1, W)
 *   constant:            lr
 *   linear:              lr · max(0, (S − step) / max(1, S − W))
 *   cosine:              lr · max(0, ½·(1 + cos(π · (step − W) / max(1, S − W))))
 * (S = total optimizer steps, W = warm-up steps; `constant` without warm-up ignores W.)
 * Departure: an optional `minLearningRateRatio` floor for cosine/linear (0 = transformers).
 */
import { GrpoError } from './errors.js';

/** Schedule shape (transformers `lr_scheduler_type`). */
export type LrSchedulerType = 'constant' | 'constant_with_warmup' | 'linear' | 'cosine';

/** Schedule parameters. */
export interface LrScheduleOptions {
  /** Peak learning rate. */
  learningRate: number;
  /** Shape (default: 'linear', transformers' default). */
  schedulerType?: LrSchedulerType;
  /** Warm-up updates W (default: 0). */
  warmupSteps?: number;
  /** Total optimizer updates S (needed by linear and cosine). */
  totalSteps: number;
  /** Floor as a fraction of the peak for linear/cosine decay (default: 0). */
  minLearningRateRatio?: number;
}

/** Warm-up steps from a ratio of the total, as transformers: ceil(S · ratio). */
export function warmupStepsFromRatio(totalSteps: number, warmupRatio: number): number {
  if (!(warmupRatio >= 0 && warmupRatio <= 1)) {
    throw new GrpoError('GRPO_INVALID_ARGUMENT', `warmupRatio: expected a number in [0, 1], got ${warmupRatio}`);
  }
  return Math.ceil(totalSteps * warmupRatio);
}

/** Learning rate for the update that follows `step` completed updates. */
export function learningRateAt(step: number, options: LrScheduleOptions): number {
  const type = options.schedulerType ?? 'linear';
  const warmup = options.warmupSteps ?? 0;
  const total = options.totalSteps;
  const floor = options.minLearningRateRatio ?? 0;
  const lr = options.learningRate;
  if (type === 'constant') return lr;
  if (step < warmup) return (lr * step) / Math.max(1, warmup);
  if (type === 'constant_with_warmup') return lr;
  const progress = (step - warmup) / Math.max(1, total - warmup);
  const factor =
    type === 'linear'
      ? Math.max(0, (total - step) / Math.max(1, total - warmup))
      : Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
  return lr * (floor + (1 - floor) * factor);
}
