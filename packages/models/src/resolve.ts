/**
 * Where the embedded models are: `<package>/models/<name>` in an installed package (copied there
 * by the build), or the repository's `data/models/<name>` when running from a source checkout.
 * The packages' `fromPretrained()` without an id load `defaultModelPath(role)` themselves (a lazy
 * import of this optional peer); `resolveModel(role, id)` is the same choice for callers' own code:
 * the id when one is given, else the role's default model folder.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { catalog, type ModelInfo, type ModelRole, MODEL_ROLES } from './catalog.js';
import { ModelsError } from './errors.js';

/** Folders searched for models, in order: the package's `models/`, then the repository's `data/models/`. */
export function modelRoots(): string[] {
  return [fileURLToPath(new URL('../models', import.meta.url)), fileURLToPath(new URL('../../../data/models', import.meta.url))];
}

/** Catalog entry of a model; MODELS_UNKNOWN_MODEL lists the known names. */
export function modelInfo(name: string): ModelInfo {
  const model = catalog().models.find((m) => m.name === name);
  if (!model) {
    throw new ModelsError('MODELS_UNKNOWN_MODEL', `unknown model ${JSON.stringify(name)}; known: ${catalog().models.map((m) => m.name).join(', ')}`);
  }
  return model;
}

/** Every catalog model. */
export function listModels(): ModelInfo[] {
  return [...catalog().models];
}

/**
 * Absolute folder of an embedded model, checked to hold the files its catalog entry requires.
 * MODELS_NOT_FOUND names the folders searched and the missing file.
 */
export function modelPath(name: string): string {
  const model = modelInfo(name);
  const tried: string[] = [];
  for (const root of modelRoots()) {
    const dir = join(root, model.name);
    tried.push(dir);
    if (!existsSync(dir)) continue;
    const missing = model.required.find((file) => !existsSync(join(dir, file)));
    if (missing) throw new ModelsError('MODELS_NOT_FOUND', `${dir}: model ${model.name} lacks ${missing} (reinstall @vlm-grpo/models)`);
    return dir;
  }
  throw new ModelsError('MODELS_NOT_FOUND', `model ${model.name} not found (looked in ${tried.join(', ')}); build the package (npx nx run @vlm-grpo/models:build) or reinstall it`);
}

/** The default model name of a role. */
export function defaultModelName(role: ModelRole): string {
  if (!MODEL_ROLES.includes(role)) throw new ModelsError('MODELS_UNKNOWN_ROLE', `unknown role ${JSON.stringify(role)}; expected ${MODEL_ROLES.join(', ')}`);
  return catalog().defaults[role];
}

/** Folder of the default model of a role. */
export function defaultModelPath(role: ModelRole): string {
  return modelPath(defaultModelName(role));
}

/**
 * The model a loader should open: `idOrPath` when given (a Hub id or a folder, untouched), else
 * the folder of the role's default embedded model: the choice `fromPretrained()` makes without an
 * id (`VLMWrapper`, `DiffusionPipeline`, `CLIPRewardCalculator`).
 */
export function resolveModel(role: ModelRole, idOrPath?: string): string {
  if (idOrPath !== undefined && idOrPath !== '') return idOrPath;
  return defaultModelPath(role);
}
