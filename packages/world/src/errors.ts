/**
 * Errors of @vlm-grpo/world. Every error is a {@link WorldError} with a stable `code`, so callers
 * can branch on `error.code` instead of parsing messages.
 */

/** Stable codes carried by {@link WorldError}. */
export type WorldErrorCode = 'WORLD_INVALID_ARGUMENT' | 'WORLD_UNPARSABLE_CAPTION';

const marker = Symbol.for('vlm-grpo.world.error');

/** Base class of every error thrown by @vlm-grpo/world. */
export class WorldError extends Error {
  /** Stable machine-readable code. */
  readonly code: WorldErrorCode;
  /** Brand checked by {@link WorldError.isInstance}. */
  readonly [marker] = true;

  constructor(code: WorldErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'WorldError';
    this.code = code;
  }

  /** True for any WorldError, even one created by another copy of this package. */
  static isInstance(error: unknown): error is WorldError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}
