/**
 * @vlm-grpo/models: the embedded default models of vlm-grpo (one folder each, with its model
 * card) and where to find them, so the packages' `fromPretrained()` works offline without an id.
 */
export { catalog, MODEL_ROLES, parseCatalog, type Catalog, type ModelInfo, type ModelRole } from './catalog.js';
export { ModelsError, type ModelsErrorCode } from './errors.js';
export { defaultModelName, defaultModelPath, listModels, modelInfo, modelPath, modelRoots, resolveModel } from './resolve.js';
