/**
 * The no-id path of `CLIPRewardCalculator.fromPretrained()`: the folder of the embedded default
 * `clip` model (transformers.js CLIP ONNX layout) from @vlm-grpo/models. That package ships
 * megabytes of weights, so it is an optional peer dependency of this one, imported lazily here and
 * only when no id is given; when it is missing the caller gets a {@link ClipRewardError}
 * (`CLIP_DEFAULT_MODEL_UNAVAILABLE`) that names the call, says no id was given and how to fix it.
 * Internal: not exported from the package entry point.
 */
import { ClipRewardError } from './errors.js';

/** What this package uses of @vlm-grpo/models (a structural subset, so no type import is needed). */
export interface ModelsModule {
  /** Folder of the default model of a role. */
  defaultModelPath(role: 'clip'): string;
}

/** Imports @vlm-grpo/models (tests pass one that fails, to play a missing install). */
export type ModelsImporter = () => Promise<ModelsModule>;

/** The real importer: a lazy `import('@vlm-grpo/models')`. */
export const importModels: ModelsImporter = () => import('@vlm-grpo/models');

/**
 * Folder of the embedded default CLIP model, for `caller` (e.g.
 * `CLIPRewardCalculator.fromPretrained()`) called without an id. Any failure to import
 * @vlm-grpo/models, or to find the model in it, is a CLIP_DEFAULT_MODEL_UNAVAILABLE
 * ClipRewardError with the original error as `cause`.
 */
export async function defaultClipModelPath(caller: string, importer: ModelsImporter = importModels): Promise<string> {
  let models: ModelsModule;
  try {
    models = await importer();
  } catch (error) {
    throw new ClipRewardError(
      'CLIP_DEFAULT_MODEL_UNAVAILABLE',
      `${caller} was called without a model id, so it loads the embedded default CLIP model from the optional peer dependency ` +
        `@vlm-grpo/models, which could not be imported (${error instanceof Error ? error.message : String(error)}). ` +
        'Install it (npm install @vlm-grpo/models) or pass a Hugging Face id or a model folder.',
      { cause: error },
    );
  }
  try {
    return models.defaultModelPath('clip');
  } catch (error) {
    throw new ClipRewardError(
      'CLIP_DEFAULT_MODEL_UNAVAILABLE',
      `${caller} was called without a model id, and @vlm-grpo/models has no usable default CLIP model: ` +
        `${error instanceof Error ? error.message : String(error)}. Reinstall @vlm-grpo/models or pass a Hugging Face id or a model folder.`,
      { cause: error },
    );
  }
}
