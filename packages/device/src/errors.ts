/**
 * Errors of @vlm-grpo/device. Every error is a {@link DeviceError} with a stable `code`.
 */

/** Stable codes carried by {@link DeviceError}. */
export type DeviceErrorCode = 'DEVICE_INVALID_ARGUMENT' | 'DEVICE_UNAVAILABLE';

const marker = Symbol.for('vlm-grpo.device.error');

/** Base class of every error thrown by @vlm-grpo/device. */
export class DeviceError extends Error {
  /** Stable machine-readable code. */
  readonly code: DeviceErrorCode;
  /** Brand checked by {@link DeviceError.isInstance}. */
  readonly [marker] = true;

  constructor(code: DeviceErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DeviceError';
    this.code = code;
  }

  /** True for any DeviceError, even one created by another copy of this package. */
  static isInstance(error: unknown): error is DeviceError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}
