/**
 * `loadPrompts`: read and validate a JSONL file of prompt records, streaming.
 */
import type { z } from 'zod';

import { DataError, InvalidRecordsError, type RecordIssue } from './errors.js';
import { readTextLines } from './jsonl-reader.js';
import { normalizePromptText, promptRecordSchema, type PromptRecord } from './prompt-record.js';

/** Options of {@link loadPrompts}. */
export interface LoadPromptsOptions {
  /**
   * `strict` (default) reads the whole file, then throws {@link InvalidRecordsError} listing every
   * invalid line (up to `maxIssues`); `skipInvalid` keeps the valid records and returns the
   * skipped lines in `skipped`.
   */
  mode?: 'strict' | 'skipInvalid';
  /** Most problems kept in an error or in `skipped` (default: 100); all are still counted. */
  maxIssues?: number;
  /**
   * What to do with prompts whose normalised text (case, whitespace, NFKC) repeats an earlier one:
   * `report` (default) keeps them and lists them in `duplicates`; `drop` removes them (also listed).
   */
  duplicates?: 'report' | 'drop';
  /** Longest accepted line in bytes (default: 16 MiB). */
  maxLineBytes?: number;
  /** Stops reading when aborted. */
  signal?: AbortSignal;
  /**
   * Accept a file that yields no record (default: false, which throws `DATA_EMPTY_DATASET` naming
   * the file and what was found in it).
   */
  allowEmpty?: boolean;
}

/** A prompt whose normalised text repeats an earlier line. */
export interface DuplicatePrompt {
  /** 1-based line of the repeat. */
  line: number;
  /** 1-based line of the first occurrence. */
  firstLine: number;
  /** The repeated prompt as written on `line`. */
  userPrompt: string;
}

/** Result of {@link loadPrompts}. */
export interface LoadedPrompts {
  /** The file that was read. */
  file: string;
  /** Valid records in file order (duplicates removed when `duplicates: 'drop'`). */
  records: PromptRecord[];
  /** 1-based source line of each record, parallel to `records`. */
  lines: number[];
  /** Invalid lines that were skipped (`skipInvalid` mode; at most `maxIssues`). */
  skipped: RecordIssue[];
  /** Number of invalid lines, which can exceed `skipped.length`. */
  invalidCount: number;
  /** Repeated prompts (reported or dropped). */
  duplicates: DuplicatePrompt[];
  /** Non-blank lines read. */
  nonBlankLines: number;
}

/** Describe the value found at `path` in a parsed record, for error messages. */
function describeReceived(record: unknown, path: readonly PropertyKey[]): string {
  let value: unknown = record;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return 'undefined';
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  if (value === undefined) return 'undefined';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (typeof value === 'object') return 'object';
  return `${typeof value} ${String(value)}`;
}

/** Turn zod issues into one readable sentence per problem. */
export function formatSchemaIssues(record: unknown, issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .map((issue) => {
      const key = issue.path.map(String).join('.');
      if (issue.code === 'unrecognized_keys') {
        return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((name) => `"${name}"`).join(', ')} (allowed: user_prompt, category, difficulty, id, reference, meta)`;
      }
      const received = describeReceived(record, issue.path);
      if (received === 'undefined' && issue.path.length > 0) return `missing field "${key}"`;
      if (issue.code === 'invalid_value') {
        return `${key}: expected one of ${issue.values.map((value) => JSON.stringify(value)).join(' | ')}, received ${received}`;
      }
      if (issue.code === 'invalid_type') return `${key || 'record'}: expected ${issue.expected}, received ${received}`;
      return `${key || 'record'}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * Read a JSONL file of prompt records (`user_prompt`, `category`, `difficulty`, optional `id`,
 * `reference`, `meta`), streaming: memory grows with the records kept, never with the file as a
 * string. UTF-8 with or without BOM, CRLF or LF, blank lines skipped.
 *
 * @throws DataError `DATA_FILE_NOT_FOUND` when the file is missing.
 * @throws DataError `DATA_EMPTY_DATASET` naming the file when it yields no record (unless `allowEmpty`).
 * @throws InvalidRecordsError in `strict` mode when any line is invalid (each problem names the
 *   file, the 1-based line and what was wrong).
 */
export async function loadPrompts(path: string, options: LoadPromptsOptions = {}): Promise<LoadedPrompts> {
  const mode = options.mode ?? 'strict';
  const maxIssues = options.maxIssues ?? 100;
  const duplicatesMode = options.duplicates ?? 'report';
  if (mode !== 'strict' && mode !== 'skipInvalid') {
    throw new DataError('DATA_INVALID_ARGUMENT', `loadPrompts: mode must be "strict" or "skipInvalid", received ${JSON.stringify(mode)}`);
  }
  if (duplicatesMode !== 'report' && duplicatesMode !== 'drop') {
    throw new DataError('DATA_INVALID_ARGUMENT', `loadPrompts: duplicates must be "report" or "drop", received ${JSON.stringify(duplicatesMode)}`);
  }
  if (!Number.isInteger(maxIssues) || maxIssues < 1) {
    throw new DataError('DATA_INVALID_ARGUMENT', `loadPrompts: maxIssues must be a positive integer, received ${maxIssues}`);
  }

  const result: LoadedPrompts = { file: path, records: [], lines: [], skipped: [], invalidCount: 0, duplicates: [], nonBlankLines: 0 };
  const firstLineByPrompt = new Map<string, number>();
  const addIssue = (line: number, message: string) => {
    result.invalidCount += 1;
    if (result.skipped.length < maxIssues) result.skipped.push({ file: path, line, message });
  };

  for await (const { line, text, error } of readTextLines(path, { maxLineBytes: options.maxLineBytes, signal: options.signal })) {
    if (error) {
      result.nonBlankLines += 1;
      addIssue(line, error);
      continue;
    }
    if (text.trim().length === 0) continue;
    result.nonBlankLines += 1;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (parseError) {
      addIssue(line, `bad JSON: ${(parseError as Error).message}`);
      continue;
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      addIssue(line, `expected a JSON object, received ${Array.isArray(parsed) ? 'array' : parsed === null ? 'null' : typeof parsed}`);
      continue;
    }
    const validated = promptRecordSchema.safeParse(parsed);
    if (!validated.success) {
      addIssue(line, formatSchemaIssues(parsed, validated.error.issues));
      continue;
    }
    const key = normalizePromptText(validated.data.user_prompt);
    const firstLine = firstLineByPrompt.get(key);
    if (firstLine !== undefined) {
      result.duplicates.push({ line, firstLine, userPrompt: validated.data.user_prompt });
      if (duplicatesMode === 'drop') continue;
    } else {
      firstLineByPrompt.set(key, line);
    }
    result.records.push(validated.data);
    result.lines.push(line);
  }

  if (mode === 'strict' && result.invalidCount > 0) {
    throw new InvalidRecordsError(path, result.skipped, result.invalidCount);
  }
  if (result.records.length === 0 && options.allowEmpty !== true) {
    const dropped = duplicatesMode === 'drop' ? result.duplicates.length : 0;
    const found =
      result.nonBlankLines === 0
        ? 'it is empty (no non-blank line)'
        : `${result.nonBlankLines} non-blank line${result.nonBlankLines === 1 ? '' : 's'}: ${result.invalidCount} invalid (skipped)${dropped > 0 ? `, ${dropped} duplicate${dropped === 1 ? '' : 's'} dropped` : ''}` +
          (result.skipped[0] ? `; first problem at ${path}:${result.skipped[0].line}: ${result.skipped[0].message}` : '');
    throw new DataError('DATA_EMPTY_DATASET', `${path}: no prompt records: ${found}. Expected one JSON object per line with user_prompt, category and difficulty.`);
  }
  return result;
}
