/**
 * The catalog of embedded models (catalog.json at the package root): each model's name, role,
 * layout, loader and required files, and the default model of each role.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { ModelsError } from './errors.js';

/** What a model is for: the policy (prompt enhancer), the diffusion model, or the CLIP scorer. */
export type ModelRole = 'policy' | 'diffusion' | 'clip';

/** The roles, in order. */
export const MODEL_ROLES: readonly ModelRole[] = ['policy', 'diffusion', 'clip'];

/** One embedded model. */
export interface ModelInfo {
  /** Folder name (`prompt-enhancer`, `world-sd` …). */
  name: string;
  /** Its role. */
  role: ModelRole;
  /** File layout, in words. */
  layout: string;
  /** The loader that reads it. */
  loader: string;
  /** Files the folder must hold (relative paths; README.md is its model card). */
  required: string[];
}

/** The parsed catalog. */
export interface Catalog {
  /** The models, in catalog order. */
  models: ModelInfo[];
  /** Default model name of each role. */
  defaults: Record<ModelRole, string>;
}

/** Check a parsed catalog.json; errors name the key. */
export function parseCatalog(value: unknown, source = 'catalog.json'): Catalog {
  const bad = (key: string, what: string): never => {
    throw new ModelsError('MODELS_INVALID_CATALOG', `${source}: ${key}: ${what}`);
  };
  if (typeof value !== 'object' || value === null) bad('(root)', 'expected an object');
  const v = value as { models?: unknown; defaults?: unknown };
  if (!Array.isArray(v.models) || v.models.length === 0) bad('models', 'expected a non-empty array');
  const models = (v.models as unknown[]).map((m, i): ModelInfo => {
    const o = (typeof m === 'object' && m !== null ? m : bad(`models[${i}]`, 'expected an object')) as Record<string, unknown>;
    for (const key of ['name', 'layout', 'loader'] as const) if (typeof o[key] !== 'string' || o[key] === '') bad(`models[${i}].${key}`, 'expected a non-empty string');
    if (!MODEL_ROLES.includes(o['role'] as ModelRole)) bad(`models[${i}].role`, `expected one of ${MODEL_ROLES.join(', ')}`);
    if (!Array.isArray(o['required']) || !o['required'].every((f) => typeof f === 'string')) bad(`models[${i}].required`, 'expected an array of paths');
    return { name: o['name'] as string, role: o['role'] as ModelRole, layout: o['layout'] as string, loader: o['loader'] as string, required: o['required'] as string[] };
  });
  const names = new Set<string>();
  for (const m of models) {
    if (names.has(m.name)) bad('models', `duplicate name ${JSON.stringify(m.name)}`);
    names.add(m.name);
  }
  const d = (typeof v.defaults === 'object' && v.defaults !== null ? v.defaults : bad('defaults', 'expected an object')) as Record<string, unknown>;
  const defaults = {} as Record<ModelRole, string>;
  for (const role of MODEL_ROLES) {
    const name = d[role];
    const model = models.find((m) => m.name === name);
    if (!model) bad(`defaults.${role}`, `expected the name of a catalog model, got ${JSON.stringify(name)}`);
    if (model!.role !== role) bad(`defaults.${role}`, `model ${JSON.stringify(name)} has role ${model!.role}`);
    defaults[role] = name as string;
  }
  return { models, defaults };
}

let cached: Catalog | undefined;

/** The package's catalog (read once). */
export function catalog(): Catalog {
  if (!cached) {
    const path = fileURLToPath(new URL('../catalog.json', import.meta.url));
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (cause) {
      throw new ModelsError('MODELS_INVALID_CATALOG', `${path}: unreadable (${(cause as Error).message})`, { cause });
    }
    cached = parseCatalog(json, path);
  }
  return cached;
}
