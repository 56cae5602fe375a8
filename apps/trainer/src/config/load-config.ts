/**
 * Build the trainer configuration from its layers: schema defaults ← `config/default_config.json`
 * ← a user file ← CLI overrides. Each layer is validated on its own first, so an error names the
 * layer (file or CLI flags) and the key path; then the merged result is validated as a whole.
 * The original design's names (`training_settings.group_size`) are accepted in every layer
 * (original-names.ts).
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import type { z } from 'zod';

import { ConfigValidationError, TrainerError, type ConfigIssue } from '../errors.js';
import { trainerConfigSchema, type TrainerConfig } from './config-schema.js';
import { normalizeOriginalNames } from './original-names.js';

/** The embedded default configuration file of the repository. */
export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../../../config/default_config.json', import.meta.url));

/** A plain JSON object. */
export type JsonObject = { [key: string]: unknown };

/** Options of {@link resolveTrainerConfig}. */
export interface ResolveConfigOptions {
  /** The base file (default: {@link DEFAULT_CONFIG_FILE}); `null` starts from the schema defaults. */
  defaultConfigFile?: string | null;
  /** A user configuration: a file path or an object (default: none). */
  config?: string | JsonObject;
  /** Overrides applied last, nested or with dotted keys (`{ 'training_settings.seed': 1 }`). */
  overrides?: JsonObject;
}

const isPlainObject = (value: unknown): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Deep-merge `override` into `base` (objects merge, everything else replaces); returns a new object. */
export function mergeConfigLayers(base: JsonObject, override: JsonObject): JsonObject {
  const merged: JsonObject = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const previous = merged[key];
    merged[key] = isPlainObject(previous) && isPlainObject(value) ? mergeConfigLayers(previous, value) : value;
  }
  return merged;
}

/** Expand dotted keys (`{ 'a.b': 1 }` → `{ a: { b: 1 } }`), merging with nested keys. */
export function expandDottedKeys(flat: JsonObject): JsonObject {
  let result: JsonObject = {};
  for (const [key, value] of Object.entries(flat)) {
    const parts = key.split('.');
    if (parts.some((part) => part === '')) {
      throw new ConfigValidationError('CLI flags', [{ path: key, message: 'empty segment in dotted key' }]);
    }
    let nested: unknown = isPlainObject(value) ? expandDottedKeys(value) : value;
    for (const part of parts.reverse()) nested = { [part]: nested };
    result = mergeConfigLayers(result, nested as JsonObject);
  }
  return result;
}

/** Edit distance, for "did you mean" hints on unknown keys and flags. */
export function editDistance(left: string, right: string): number {
  let previous = Array.from({ length: right.length + 1 }, (_, index) => index);
  for (let row = 1; row <= left.length; row++) {
    const current = [row];
    for (let column = 1; column <= right.length; column++) {
      const cost = left[row - 1] === right[column - 1] ? 0 : 1;
      current[column] = Math.min(previous[column]! + 1, current[column - 1]! + 1, previous[column - 1]! + cost);
    }
    previous = current;
  }
  return previous[right.length]!;
}

/** The closest candidate to `name` when it is close enough to be a typo (else undefined). */
export function closestName(name: string, candidates: readonly string[]): string | undefined {
  const best = candidates.map((candidate) => ({ candidate, distance: editDistance(name, candidate) })).sort((left, right) => left.distance - right.distance)[0];
  return best && best.distance <= Math.max(2, Math.floor(name.length / 3)) ? best.candidate : undefined;
}

type SchemaDefinition = { type?: string; shape?: Record<string, unknown>; innerType?: unknown; in?: unknown };

/** The object shape under `schema`, looking through default/prefault/nullable/optional wrappers. */
function objectShapeOf(schema: unknown): Record<string, unknown> | undefined {
  let current = schema;
  while (current) {
    const definition = (current as { _zod?: { def?: SchemaDefinition } })._zod?.def;
    if (!definition) return undefined;
    if (definition.type === 'object') return definition.shape ?? {};
    current = definition.innerType ?? definition.in;
  }
  return undefined;
}

/** Keys the schema allows at `path` (an object path in the config). */
function allowedKeysAt(path: readonly PropertyKey[]): string[] {
  let shape = objectShapeOf(trainerConfigSchema);
  for (const key of path) shape = shape && objectShapeOf(shape[String(key)]);
  return Object.keys(shape ?? {});
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') return `string ${JSON.stringify(value)}`;
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'object';
  return `${typeof value} ${String(value)}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) value = isPlainObject(value) ? value[String(key)] : undefined;
  return value;
}

/** Turn zod issues into key-path messages (unknown keys get a "did you mean" hint). */
export function configIssues(input: unknown, issues: readonly z.core.$ZodIssue[]): ConfigIssue[] {
  const result: ConfigIssue[] = [];
  for (const issue of issues) {
    const parent = issue.path.map(String).join('.');
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeysAt(issue.path);
      for (const key of issue.keys) {
        const closest = closestName(key, allowed);
        const hint = closest ? ` (did you mean "${closest}"?)` : '';
        result.push({ path: parent ? `${parent}.${key}` : key, message: `unknown key${hint}; allowed here: ${allowed.join(', ')}` });
      }
      continue;
    }
    const received = describeValue(valueAt(input, issue.path));
    const expected = issue.code === 'invalid_type' ? `expected ${issue.expected}` : issue.code === 'invalid_value' ? `expected one of ${issue.values.map((value) => JSON.stringify(value)).join(' | ')}` : issue.message;
    result.push({ path: parent || '(root)', message: `${expected}, received ${received}` });
  }
  return result;
}

/** Validate one layer (partial config) on its own; throws naming the layer's source. */
function checkLayer(source: string, layer: unknown): void {
  if (!isPlainObject(layer)) {
    throw new ConfigValidationError(source, [{ path: '(root)', message: `expected a JSON object, received ${describeValue(layer)}` }]);
  }
  const parsed = trainerConfigSchema.safeParse(layer);
  // Rules across keys are judged on the merged configuration, where every layer is present.
  const issues = parsed.success ? [] : parsed.error.issues.filter((issue) => !(issue.code === 'custom' && issue.params?.crossField));
  if (issues.length > 0) throw new ConfigValidationError(source, configIssues(layer, issues));
}

/** Read a JSON config file; syntax errors name the file, line and column. */
export async function readConfigFile(path: string): Promise<JsonObject> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new TrainerError('TRAINER_CONFIG_NOT_FOUND', `configuration file not found or unreadable: ${path}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text.replace(/^\uFEFF/u, ''));
  } catch (error) {
    const message = (error as Error).message;
    const position = /position (\d+)/u.exec(message);
    let where = '';
    if (position) {
      const before = text.slice(0, Number(position[1]));
      const line = before.split('\n').length;
      where = `:${line}:${before.length - before.lastIndexOf('\n')}`;
    }
    throw new ConfigValidationError(path, [{ path: `${path}${where}`, message: `invalid JSON: ${message}` }]);
  }
  if (!isPlainObject(parsed)) checkLayer(path, parsed);
  const normalized = normalizeOriginalNames(parsed as JsonObject, path);
  checkLayer(path, normalized);
  return normalized;
}

/**
 * Resolve the full configuration from its layers.
 * @throws ConfigValidationError naming the layer and key path of every problem.
 * @throws TrainerError `TRAINER_CONFIG_NOT_FOUND` when a file is missing.
 */
export async function resolveTrainerConfig(options: ResolveConfigOptions = {}): Promise<TrainerConfig> {
  const defaultFile = options.defaultConfigFile === undefined ? DEFAULT_CONFIG_FILE : options.defaultConfigFile;
  let merged: JsonObject = defaultFile === null ? {} : await readConfigFile(defaultFile);
  if (typeof options.config === 'string') {
    merged = mergeConfigLayers(merged, await readConfigFile(options.config));
  } else if (options.config !== undefined) {
    if (!isPlainObject(options.config)) checkLayer('configuration object', options.config);
    const layer = normalizeOriginalNames(options.config, 'configuration object');
    checkLayer('configuration object', layer);
    merged = mergeConfigLayers(merged, layer);
  }
  if (options.overrides) {
    const overrides = normalizeOriginalNames(expandDottedKeys(options.overrides), 'CLI flags');
    checkLayer('CLI flags', overrides);
    merged = mergeConfigLayers(merged, overrides);
  }
  const parsed = trainerConfigSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigValidationError('merged configuration', configIssues(merged, parsed.error.issues));
  return parsed.data;
}

/**
 * Parse a CLI value: JSON literals (numbers, booleans, null, arrays, objects, quoted strings) are
 * decoded, anything else is kept as a string (`2e-6` → 0.000002, `cpu` → "cpu").
 */
export function parseCliValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
