/**
 * Errors of @vlm-grpo/sd. Every error is an {@link SdError} with a stable `code`, so callers can
 * branch on `error.code` instead of parsing messages.
 */

/** Stable codes carried by {@link SdError}. */
export type SdErrorCode =
  /** A required model file or folder is missing (the message names it). */
  | 'SD_MODEL_FILE_NOT_FOUND'
  /** A model file exists but cannot be parsed or has an unexpected layout (names the file and key). */
  | 'SD_INVALID_MODEL'
  /** A Hugging Face Hub download failed (offline, 404, HTTP error); names the URL. */
  | 'SD_HUB_UNAVAILABLE'
  /** An option has a wrong value: size not a multiple of the VAE factor, steps < 1, bad latents shape… */
  | 'SD_INVALID_ARGUMENT'
  /** `generateImages([])` or an empty prompt list. */
  | 'SD_EMPTY_PROMPTS'
  /** The scheduler name or `_class_name` is not one this package implements. */
  | 'SD_UNKNOWN_SCHEDULER'
  /** A scheduler config key has a value this package does not implement (names the key). */
  | 'SD_UNSUPPORTED_CONFIG'
  /** The pipeline class in `model_index.json` is not supported. */
  | 'SD_UNSUPPORTED_PIPELINE'
  /** The requested execution device could not be initialised and no fallback was allowed. */
  | 'SD_DEVICE_UNAVAILABLE'
  /** ONNX Runtime failed while running a session (names the component). */
  | 'SD_INFERENCE_FAILED'
  /** Generation was aborted through the AbortSignal. */
  | 'SD_ABORTED'
  /** An image failed quality validation and `validation: 'error'` was set. */
  | 'SD_QUALITY_CHECK_FAILED'
  /** The pipeline was used after `release()`. */
  | 'SD_RELEASED'
  /** A model index or ONNX file names a file outside the model folder. */
  | 'SD_UNSAFE_PATH'
  /** `fromPretrained()` got no id and the embedded default model (@vlm-grpo/models) is not installed or not usable. */
  | 'SD_DEFAULT_MODEL_UNAVAILABLE';

const marker = Symbol.for('vlm-grpo.sd.error');

/** Base class of every error thrown by @vlm-grpo/sd. */
export class SdError extends Error {
  /** Stable machine-readable code. */
  readonly code: SdErrorCode;
  /** Cross-copy brand checked by {@link SdError.isInstance}. */
  readonly [marker] = true as const;

  constructor(code: SdErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SdError';
    this.code = code;
  }

  /** True for any SdError, even one created by another copy of this package. */
  static isInstance(error: unknown): error is SdError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}

/** A required model file is missing. */
export class ModelFileNotFoundError extends SdError {
  /** Absolute path (or URL) of the missing file. */
  readonly path: string;

  constructor(path: string, what: string, options?: { cause?: unknown }) {
    super('SD_MODEL_FILE_NOT_FOUND', `${what}: file not found: ${path}`, options);
    this.name = 'ModelFileNotFoundError';
    this.path = path;
  }
}

/** A generated image failed quality validation (thrown only with `validation: 'error'`). */
export class QualityCheckError extends SdError {
  /** The problems found, e.g. `['nan-pixels']`. */
  readonly issues: readonly string[];
  /** Index of the offending image in the batch. */
  readonly imageIndex: number;

  constructor(imageIndex: number, issues: readonly string[], detail: string) {
    super('SD_QUALITY_CHECK_FAILED', `image ${imageIndex} failed quality validation: ${issues.join(', ')} (${detail})`);
    this.name = 'QualityCheckError';
    this.issues = issues;
    this.imageIndex = imageIndex;
  }
}
