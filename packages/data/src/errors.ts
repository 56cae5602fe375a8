/**
 * Errors of @vlm-grpo/data. Every error is a {@link DataError} with a stable `code`, so
 * callers can branch on `error.code` instead of parsing messages.
 */

/** Stable codes carried by {@link DataError}. */
export type DataErrorCode =
  | 'DATA_FILE_NOT_FOUND'
  | 'DATA_INVALID_RECORDS'
  | 'DATA_INVALID_ARGUMENT'
  | 'DATA_EMPTY_DATASET'
  | 'DATA_RUN_DIRECTORY_CONFLICT'
  | 'DATA_WRITE_FAILED'
  | 'DATA_UNSAFE_PATH'
  | 'DATA_HUB_FILE_NOT_FOUND'
  | 'DATA_HUB_UNAVAILABLE';

const marker = Symbol.for('vlm-grpo.data.error');

/** Base class of every error thrown by @vlm-grpo/data. */
export class DataError extends Error {
  /** Stable machine-readable code. */
  readonly code: DataErrorCode;
  /** Brand checked by {@link DataError.isInstance}. */
  readonly [marker] = true;

  constructor(code: DataErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DataError';
    this.code = code;
  }

  /** True for any DataError, even one created by another copy of this package. */
  static isInstance(error: unknown): error is DataError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}

/** One problem found in one line of a JSONL file. */
export interface RecordIssue {
  /** File the line belongs to. */
  file: string;
  /** 1-based line number. */
  line: number;
  /** What was wrong, e.g. `bad JSON: Unexpected token` or `category: expected string, received number`. */
  message: string;
}

/** Thrown by `loadPrompts` in strict mode: lists every problem found (up to the configured cap). */
export class InvalidRecordsError extends DataError {
  /** The problems, in file order. */
  readonly issues: readonly RecordIssue[];
  /** Total number of invalid lines, which may exceed `issues.length` when capped. */
  readonly totalInvalid: number;

  constructor(file: string, issues: readonly RecordIssue[], totalInvalid: number) {
    const shown = issues.map((issue) => `  ${issue.file}:${issue.line}: ${issue.message}`).join('\n');
    const more = totalInvalid > issues.length ? `\n  … and ${totalInvalid - issues.length} more` : '';
    super(
      'DATA_INVALID_RECORDS',
      `${file}: ${totalInvalid} invalid line${totalInvalid === 1 ? '' : 's'}:\n${shown}${more}`,
    );
    this.name = 'InvalidRecordsError';
    this.issues = issues;
    this.totalInvalid = totalInvalid;
  }
}
