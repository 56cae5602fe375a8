/**
 * Errors of @vlm-grpo/grpo. Every error is a {@link GrpoError} with a stable `code`, so callers
 * can branch on `error.code` instead of parsing messages.
 */

/** Stable codes carried by {@link GrpoError}. */
export type GrpoErrorCode =
  /** A configuration value is missing, unknown or out of range. */
  | 'GRPO_INVALID_CONFIG'
  /** A function argument is malformed (wrong length, wrong shape, not finite…). */
  | 'GRPO_INVALID_ARGUMENT'
  /** A batch size is not divisible by the group size or the number of micro-batches. */
  | 'GRPO_BATCH_NOT_DIVISIBLE'
  /** A reward function returned the wrong number of values, a non-number, or threw. */
  | 'GRPO_REWARD_FAILED'
  /** The policy engine broke the `PolicyEngine` contract (missing methods, row counts, lengths). */
  | 'GRPO_POLICY_CONTRACT'
  /** The loss or the gradient became NaN/Infinity; the update was not applied. */
  | 'GRPO_NON_FINITE'
  /** A saved trainer state does not fit this trainer (tensor count/shape, dataset size, format). */
  | 'GRPO_STATE_MISMATCH'
  /** The prompt dataset is empty. */
  | 'GRPO_EMPTY_DATASET'
  /** The trainer was used after `dispose()`. */
  | 'GRPO_DISPOSED';

const marker = Symbol.for('vlm-grpo.grpo.error');

/** Base class of every error thrown by @vlm-grpo/grpo. */
export class GrpoError extends Error {
  /** Stable machine-readable code. */
  readonly code: GrpoErrorCode;
  /** Brand checked by {@link GrpoError.isInstance}. */
  readonly [marker] = true;

  constructor(code: GrpoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GrpoError';
    this.code = code;
  }

  /** True for any GrpoError, even one created by another copy of this package. */
  static isInstance(error: unknown): error is GrpoError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}

/** Thrown when a reward function misbehaves: wrong number of values, a non-number value, or an exception. */
export class RewardFunctionError extends GrpoError {
  /** Name of the reward function. */
  readonly rewardName: string;
  /** Number of values expected (one per completion). */
  readonly expected: number;
  /** Number of values received (-1 when the function threw or returned a non-array). */
  readonly received: number;

  constructor(rewardName: string, message: string, expected: number, received: number, options?: { cause?: unknown }) {
    super('GRPO_REWARD_FAILED', `reward function "${rewardName}": ${message}`, options);
    this.name = 'RewardFunctionError';
    this.rewardName = rewardName;
    this.expected = expected;
    this.received = received;
  }
}
