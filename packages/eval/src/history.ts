/**
 * Reading a run folder back: the validation results written so far and the training metrics.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

import { EvalError, InvalidResultError } from './errors.js';
import { parseMetricsJsonl, type ParsedMetrics } from './report.js';
import { parseValidationResult, type ValidationResult } from './validation-result.js';

/** Matches `validation_iter_<N>.json`. */
export const VALIDATION_FILE_PATTERN = /^validation_iter_(\d+)\.json$/u;

/** Options of {@link loadValidationHistory}. */
export interface LoadHistoryOptions {
  /**
   * Skip files that are not valid results instead of throwing (default: false). Skipped files are
   * reported through `onInvalid`.
   */
  skipInvalid?: boolean;
  /** Called with each skipped file and its error (only with `skipInvalid`). */
  onInvalid?: (file: string, error: EvalError) => void;
}

/**
 * Every `validation_iter_N.json` directly in `directory`, validated and sorted by iteration.
 * A missing folder gives an empty list.
 * @throws InvalidResultError (`EVAL_INVALID_RESULT`) naming the file and key, unless `skipInvalid`.
 */
export async function loadValidationHistory(directory: string, options: LoadHistoryOptions = {}): Promise<ValidationResult[]> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new EvalError('EVAL_INVALID_ARGUMENT', `loadValidationHistory: cannot list ${directory} (${(error as Error).message})`, { cause: error });
  }
  const results: ValidationResult[] = [];
  for (const name of names.filter((entry) => VALIDATION_FILE_PATTERN.test(entry))) {
    const file = join(directory, name);
    try {
      let value: unknown;
      try {
        value = JSON.parse(await readFile(file, 'utf8'));
      } catch (error) {
        throw new InvalidResultError(file, [`(root): unreadable JSON (${(error as Error).message})`], { cause: error });
      }
      results.push(parseValidationResult(value, file));
    } catch (error) {
      if (!options.skipInvalid || !EvalError.isInstance(error)) throw error;
      options.onInvalid?.(file, error);
    }
  }
  return results.sort((a, b) => a.iteration - b.iteration);
}

/** Read and parse a `metrics.jsonl` file; a missing file gives no records. */
export async function readMetricsFile(path: string): Promise<ParsedMetrics> {
  try {
    return parseMetricsJsonl(await readFile(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], invalidLines: [] };
    throw new EvalError('EVAL_INVALID_ARGUMENT', `readMetricsFile: cannot read ${path} (${(error as Error).message})`, { cause: error });
  }
}
