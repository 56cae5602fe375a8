/**
 * The no-id path of `DiffusionPipeline.fromPretrained()` and `StableDiffusionPipeline.fromPretrained()`:
 * the folder of the embedded default `diffusion` model (an Optimum ONNX Stable Diffusion 1.x
 * export) from @vlm-grpo/models. That package ships megabytes of weights, so it is an optional
 * peer dependency of this one, imported lazily here and only when no id is given; when it is
 * missing the caller gets an {@link SdError} (`SD_DEFAULT_MODEL_UNAVAILABLE`) that names the call,
 * says no id was given and how to fix it. `SD3Generator` has no default: the embedded model is not
 * SD3. Internal: not exported from the package entry point.
 */
import { SdError } from './errors.js';

/** What this package uses of @vlm-grpo/models (a structural subset, so no type import is needed). */
export interface ModelsModule {
  /** Folder of the default model of a role. */
  defaultModelPath(role: 'diffusion'): string;
}

/** Imports @vlm-grpo/models (tests pass one that fails, to play a missing install). */
export type ModelsImporter = () => Promise<ModelsModule>;

/** The real importer: a lazy `import('@vlm-grpo/models')`. */
export const importModels: ModelsImporter = () => import('@vlm-grpo/models');

/**
 * Folder of the embedded default diffusion model, for `caller` (e.g.
 * `DiffusionPipeline.fromPretrained()`) called without an id. Any failure to import
 * @vlm-grpo/models, or to find the model in it, is an SD_DEFAULT_MODEL_UNAVAILABLE SdError with the
 * original error as `cause`.
 */
export async function defaultDiffusionModelPath(caller: string, importer: ModelsImporter = importModels): Promise<string> {
  let models: ModelsModule;
  try {
    models = await importer();
  } catch (error) {
    throw new SdError(
      'SD_DEFAULT_MODEL_UNAVAILABLE',
      `${caller} was called without a model id, so it loads the embedded default diffusion model from the optional peer dependency ` +
        `@vlm-grpo/models, which could not be imported (${error instanceof Error ? error.message : String(error)}). ` +
        'Install it (npm install @vlm-grpo/models) or pass a Hugging Face id or a model folder.',
      { cause: error },
    );
  }
  try {
    return models.defaultModelPath('diffusion');
  } catch (error) {
    throw new SdError(
      'SD_DEFAULT_MODEL_UNAVAILABLE',
      `${caller} was called without a model id, and @vlm-grpo/models has no usable default diffusion model: ` +
        `${error instanceof Error ? error.message : String(error)}. Reinstall @vlm-grpo/models or pass a Hugging Face id or a model folder.`,
      { cause: error },
    );
  }
}
