/**
 * Errors of @vlm-grpo/clip-reward. Every error is a {@link ClipRewardError} with a stable `code`,
 * so callers can branch on `error.code` instead of parsing messages.
 */

/** Stable codes carried by {@link ClipRewardError}. */
export type ClipRewardErrorCode =
  | 'CLIP_INVALID_ARGUMENT'
  | 'CLIP_MISMATCHED_LENGTHS'
  | 'CLIP_EMPTY_TEXT'
  | 'CLIP_CORRUPT_IMAGE'
  | 'CLIP_UNSUPPORTED_IMAGE'
  | 'CLIP_ZERO_SIZE_IMAGE'
  | 'CLIP_MODEL_FILE_MISSING'
  | 'CLIP_MODEL_LOAD_FAILED'
  | 'CLIP_DEVICE_UNAVAILABLE'
  | 'CLIP_INVALID_SAFETENSORS'
  | 'CLIP_INVALID_CONFIG'
  | 'CLIP_DISPOSED'
  /** `fromPretrained()` got no id and the embedded default model (@vlm-grpo/models) is not installed or not usable. */
  | 'CLIP_DEFAULT_MODEL_UNAVAILABLE';

const marker = Symbol.for('vlm-grpo.clip-reward.error');

/** Base class of every error thrown by @vlm-grpo/clip-reward. */
export class ClipRewardError extends Error {
  /** Stable machine-readable code. */
  readonly code: ClipRewardErrorCode;
  /** Brand checked by {@link ClipRewardError.isInstance}. */
  readonly [marker] = true;

  constructor(code: ClipRewardErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ClipRewardError';
    this.code = code;
  }

  /** True for any ClipRewardError, even one created by another copy of this package. */
  static isInstance(error: unknown): error is ClipRewardError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}

/** Two lists that must pair up element by element have different lengths. */
export class MismatchedLengthsError extends ClipRewardError {
  /** Name and length of the first list. */
  readonly left: { name: string; length: number };
  /** Name and length of the second list. */
  readonly right: { name: string; length: number };

  constructor(left: { name: string; length: number }, right: { name: string; length: number }) {
    super(
      'CLIP_MISMATCHED_LENGTHS',
      `${left.name} has ${left.length} item(s) but ${right.name} has ${right.length}: they must pair up one to one`,
    );
    this.name = 'MismatchedLengthsError';
    this.left = left;
    this.right = right;
  }
}

/** A text is empty or only whitespace (CLIP would embed nothing but its special tokens). */
export class EmptyTextError extends ClipRewardError {
  /** Index of the offending text in its list. */
  readonly index: number;

  constructor(index: number, listName = 'texts') {
    super('CLIP_EMPTY_TEXT', `${listName}[${index}] is empty or only whitespace; expected a non-empty prompt`);
    this.name = 'EmptyTextError';
    this.index = index;
  }
}

/** What kind of problem an image had. */
export type ImageProblem = 'corrupt' | 'unsupported' | 'zero-size';

/** An image could not be decoded, is in an unsupported format, or has no pixels. */
export class ImageInputError extends ClipRewardError {
  /** Index of the image in its list (0 for single-image calls). */
  readonly index: number;
  /** Short description of the source (file path, `Buffer(123 bytes)`, `raw 0×4`, …). */
  readonly source: string;

  constructor(
    code: 'CLIP_CORRUPT_IMAGE' | 'CLIP_UNSUPPORTED_IMAGE' | 'CLIP_ZERO_SIZE_IMAGE',
    index: number,
    source: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(code, `image ${index} (${source}): ${detail}`, options);
    this.name = 'ImageInputError';
    this.index = index;
    this.source = source;
  }
}

/** A model folder lacks a file that loading needs. */
export class ModelFileMissingError extends ClipRewardError {
  /** The model folder. */
  readonly folder: string;
  /** The missing file, relative to the folder (e.g. `onnx/vision_model_fp16.onnx`). */
  readonly file: string;

  constructor(folder: string, file: string, detail = '') {
    super('CLIP_MODEL_FILE_MISSING', `model folder ${folder} has no ${file}${detail ? ` (${detail})` : ''}`);
    this.name = 'ModelFileMissingError';
    this.folder = folder;
    this.file = file;
  }
}

/** A safetensors file is malformed or holds something this package cannot use. */
export class SafetensorsError extends ClipRewardError {
  /** The file (or `<buffer>`). */
  readonly file: string;

  constructor(file: string, detail: string, options?: { cause?: unknown }) {
    super('CLIP_INVALID_SAFETENSORS', `${file}: ${detail}`, options);
    this.name = 'SafetensorsError';
    this.file = file;
  }
}
