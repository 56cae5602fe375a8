/**
 * Errors of @vlm-grpo/eval. Every error is an {@link EvalError} with a stable `code`, so callers
 * can branch on `error.code` instead of parsing messages.
 *
 * Failures of a single validation prompt (a render error, a scorer error, a NaN reward) are NOT
 * thrown: they are recorded in the validation result and the prompt is excluded from the metrics.
 */

/** Stable codes carried by {@link EvalError}. */
export type EvalErrorCode =
  /** A function argument or option is malformed or out of range. */
  | 'EVAL_INVALID_ARGUMENT'
  /** `validate` was called with no validation records. */
  | 'EVAL_NO_RECORDS'
  /** An enhancer, renderer or scorer broke its interface contract (e.g. returned the wrong number of items). */
  | 'EVAL_CONTRACT_VIOLATION'
  /** More prompts failed than `maxFailureFraction` allows (the outputs were still written). */
  | 'EVAL_TOO_MANY_FAILURES'
  /** A validation result (JSON) does not match `validationResultSchema`. */
  | 'EVAL_INVALID_RESULT'
  /** An output file (JSON, PNG, HTML) could not be produced or written. */
  | 'EVAL_OUTPUT_FAILED'
  /** The run was aborted through an `AbortSignal`. */
  | 'EVAL_ABORTED';

const marker = Symbol.for('vlm-grpo.eval.error');

/** Base class of every error thrown by @vlm-grpo/eval. */
export class EvalError extends Error {
  /** Stable machine-readable code. */
  readonly code: EvalErrorCode;
  /** Brand checked by {@link EvalError.isInstance}. */
  readonly [marker] = true;

  constructor(code: EvalErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'EvalError';
    this.code = code;
  }

  /** True for any EvalError, even one created by another copy of this package. */
  static isInstance(error: unknown): error is EvalError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}

/** Thrown by `parseValidationResult` / `loadValidationHistory` when a result does not match the schema. */
export class InvalidResultError extends EvalError {
  /** Where the result came from (a file path or `"value"`). */
  readonly source: string;
  /** One line per problem: `key.path: message`. */
  readonly issues: readonly string[];

  constructor(source: string, issues: readonly string[], options?: { cause?: unknown }) {
    super('EVAL_INVALID_RESULT', `${source}: not a valid validation result:\n${issues.map((issue) => `  ${issue}`).join('\n')}`, options);
    this.name = 'InvalidResultError';
    this.source = source;
    this.issues = issues;
  }
}

/** Thrown by `Validator#validate` when the failed fraction exceeds `maxFailureFraction`. */
export class TooManyFailuresError extends EvalError {
  /** Number of prompts that failed. */
  readonly failed: number;
  /** Number of prompts validated. */
  readonly total: number;
  /** The complete validation result (already written when a writer was given). */
  readonly result: unknown;

  constructor(failed: number, total: number, maxFailureFraction: number, result: unknown) {
    super(
      'EVAL_TOO_MANY_FAILURES',
      `validation: ${failed} of ${total} prompts failed (${((100 * failed) / total).toFixed(1)}%), above maxFailureFraction ${maxFailureFraction}; see the "failures" in the validation result`,
    );
    this.name = 'TooManyFailuresError';
    this.failed = failed;
    this.total = total;
    this.result = result;
  }
}

/** A short, single-line description of any thrown value (for failure records). */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const prefix = typeof code === 'string' ? `${code}: ` : '';
    return `${prefix}${error.message}`.replace(/\s+/gu, ' ').trim().slice(0, 2000);
  }
  return String(error).replace(/\s+/gu, ' ').trim().slice(0, 2000);
}
