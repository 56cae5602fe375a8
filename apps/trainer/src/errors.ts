/**
 * Errors of the vlm-grpo trainer. Every error is a {@link TrainerError} with a stable `code`.
 */

/** Stable codes carried by {@link TrainerError}. */
export type TrainerErrorCode =
  | 'TRAINER_CONFIG_INVALID'
  | 'TRAINER_CONFIG_NOT_FOUND'
  | 'TRAINER_CLI_USAGE'
  | 'TRAINER_INVALID_ARGUMENT'
  | 'TRAINER_CHECKPOINT_FAILED'
  | 'TRAINER_CHECKPOINT_NOT_FOUND'
  | 'TRAINER_COMPONENT_FAILED'
  | 'TRAINER_TOO_MANY_FAILURES'
  | 'TRAINER_POLICY_BACKEND_ABORTED'
  | 'TRAINER_RUN_FAILED'
  | 'TRAINER_RUN_LOCKED'
  | 'TRAINER_RESUME_CONFIG_CHANGED'
  | 'TRAINER_NOT_INITIALIZED'
  | 'TRAINER_ROLLOUT_UNAVAILABLE'
  | 'TRAINER_ROLLOUT_REFUSED'
  | 'TRAINER_ROLLOUT_PAYLOAD';

const marker = Symbol.for('vlm-grpo.trainer.error');

/** Base class of every error thrown by the trainer. */
export class TrainerError extends Error {
  /** Stable machine-readable code. */
  readonly code: TrainerErrorCode;
  /** Brand checked by {@link TrainerError.isInstance}. */
  readonly [marker] = true;

  constructor(code: TrainerErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TrainerError';
    this.code = code;
  }

  /** True for any TrainerError, even one created by another copy of this package. */
  static isInstance(error: unknown): error is TrainerError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}

/** A configuration problem at one key path. */
export interface ConfigIssue {
  /** Dotted key path, e.g. `training_settings.learning_rate`. */
  path: string;
  /** What was wrong and what was expected. */
  message: string;
}

/** Thrown when a configuration (file, object or CLI flag) does not match the schema. */
export class ConfigValidationError extends TrainerError {
  /** Every problem found. */
  readonly issues: readonly ConfigIssue[];
  /** Where the configuration came from (a file path, `CLI flags`, or `object`). */
  readonly source: string;

  constructor(source: string, issues: readonly ConfigIssue[]) {
    super('TRAINER_CONFIG_INVALID', `invalid configuration (${source}):\n${issues.map((issue) => `  ${issue.path}: ${issue.message}`).join('\n')}`);
    this.name = 'ConfigValidationError';
    this.issues = issues;
    this.source = source;
  }
}
