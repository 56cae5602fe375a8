/**
 * Errors of @vlm-grpo/vlm. Every error is a {@link VlmError} with a stable `code`, so callers can
 * branch on `error.code` instead of parsing messages.
 */

/** Stable codes carried by {@link VlmError}. */
export type VlmErrorCode =
  | 'VLM_INVALID_ARGUMENT'
  | 'VLM_FILE_NOT_FOUND'
  | 'VLM_DOWNLOAD_FAILED'
  | 'VLM_SAFETENSORS_INVALID'
  | 'VLM_INVALID_CONFIG'
  | 'VLM_UNSUPPORTED_ARCHITECTURE'
  | 'VLM_MISSING_WEIGHTS'
  | 'VLM_BACKEND_UNAVAILABLE'
  | 'VLM_TOKENIZER_FAILED'
  | 'VLM_TEMPLATE_FAILED'
  | 'VLM_DISPOSED'
  | 'VLM_UNSAFE_PATH'
  /** `fromPretrained()` got no id and the embedded default model (@vlm-grpo/models) is not installed or not usable. */
  | 'VLM_DEFAULT_MODEL_UNAVAILABLE';

const marker = Symbol.for('vlm-grpo.vlm.error');

/** Base class of every error thrown by @vlm-grpo/vlm. */
export class VlmError extends Error {
  /** Stable machine-readable code. */
  readonly code: VlmErrorCode;
  /** Brand checked by {@link VlmError.isInstance}. */
  readonly [marker] = true;

  constructor(code: VlmErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'VlmError';
    this.code = code;
  }

  /** True for any VlmError, even one created by another copy of this package. */
  static isInstance(error: unknown): error is VlmError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}

/** A safetensors file (or buffer) that does not follow the format. */
export class SafetensorsError extends VlmError {
  /** File (or `<buffer>`) that was being read. */
  readonly source: string;

  constructor(source: string, message: string, options?: { cause?: unknown }) {
    super('VLM_SAFETENSORS_INVALID', `${source}: ${message}`, options);
    this.name = 'SafetensorsError';
    this.source = source;
  }
}

/** A `config.json` whose architecture this package cannot build. */
export class UnsupportedArchitectureError extends VlmError {
  /** The architecture / model_type found in the config. */
  readonly architecture: string;
  /** The architectures this package supports. */
  readonly supported: readonly string[];

  constructor(source: string, architecture: string, supported: readonly string[]) {
    super(
      'VLM_UNSUPPORTED_ARCHITECTURE',
      `${source}: unsupported architecture "${architecture}"; supported: ${supported.join(', ')}`,
    );
    this.name = 'UnsupportedArchitectureError';
    this.architecture = architecture;
    this.supported = supported;
  }
}

/** A checkpoint that lacks tensors the architecture needs, or has them with the wrong shape. */
export class MissingWeightsError extends VlmError {
  /** Tensor names that were missing or mis-shaped. */
  readonly names: readonly string[];

  constructor(source: string, names: readonly string[], detail: string) {
    const shown = names.slice(0, 8).join(', ') + (names.length > 8 ? `, … (${names.length} in all)` : '');
    super('VLM_MISSING_WEIGHTS', `${source}: ${detail}: ${shown}`);
    this.name = 'MissingWeightsError';
    this.names = names;
  }
}
