/**
 * Errors of @vlm-grpo/policy-webgpu. Every error is a {@link PolicyWebGpuError} with a stable
 * `code`, so callers can branch on `error.code` instead of parsing messages.
 */

/** Stable codes carried by {@link PolicyWebGpuError}. */
export type PolicyWebGpuErrorCode =
  | 'WEBGPU_UNAVAILABLE'
  | 'WEBGPU_NO_TIMESTAMPS'
  | 'WEBGPU_INVALID_ARGUMENT'
  | 'WEBGPU_INVALID_STATE'
  | 'WEBGPU_SHAPE'
  | 'WEBGPU_MISSING_WEIGHTS'
  | 'WEBGPU_UNSUPPORTED'
  | 'WEBGPU_DISPOSED';

const marker = Symbol.for('vlm-grpo.policy-webgpu.error');

/** Base class of every error thrown by @vlm-grpo/policy-webgpu. */
export class PolicyWebGpuError extends Error {
  /** Stable machine-readable code. */
  readonly code: PolicyWebGpuErrorCode;
  /** Brand checked by {@link PolicyWebGpuError.isInstance}. */
  readonly [marker] = true;

  constructor(code: PolicyWebGpuErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PolicyWebGpuError';
    this.code = code;
  }

  /** True for any PolicyWebGpuError, even one created by another copy of this package. */
  static isInstance(error: unknown): error is PolicyWebGpuError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}

/** Throw a `WEBGPU_SHAPE` error naming the launcher and the violated assumption unless `ok`. */
export function assertShape(ok: boolean, launcher: string, message: string): void {
  if (!ok) throw new PolicyWebGpuError('WEBGPU_SHAPE', `${launcher}: ${message}`);
}
