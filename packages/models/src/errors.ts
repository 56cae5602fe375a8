/**
 * Errors of @vlm-grpo/models. Every error is a {@link ModelsError} with a stable `code`.
 */

/** Stable codes carried by {@link ModelsError}. */
export type ModelsErrorCode = 'MODELS_UNKNOWN_MODEL' | 'MODELS_UNKNOWN_ROLE' | 'MODELS_NOT_FOUND' | 'MODELS_INVALID_CATALOG';

const marker = Symbol.for('vlm-grpo.models.error');

/** Base class of every error thrown by @vlm-grpo/models. */
export class ModelsError extends Error {
  /** Stable machine-readable code. */
  readonly code: ModelsErrorCode;
  /** Brand checked by {@link ModelsError.isInstance}. */
  readonly [marker] = true;

  constructor(code: ModelsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ModelsError';
    this.code = code;
  }

  /** True for any ModelsError, even one created by another copy of this package. */
  static isInstance(error: unknown): error is ModelsError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}
