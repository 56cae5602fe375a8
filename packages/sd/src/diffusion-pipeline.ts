/**
 * `DiffusionPipeline.fromPretrained`: open a model folder or Hub id and return the pipeline its
 * `model_index.json` declares (diffusers' `DiffusionPipeline.from_pretrained` dispatch).
 *
 * `_class_name` → pipeline: StableDiffusionPipeline / OnnxStableDiffusionPipeline /
 * ORTStableDiffusionPipeline / LatentConsistencyModelPipeline (and ORT/Onnx variants) → SD;
 * StableDiffusionXLPipeline / ORTStableDiffusionXLPipeline / LCM-SDXL → SDXL;
 * StableDiffusion3Pipeline / ORTStableDiffusion3Pipeline → SD3. Without a known class name the
 * folder contents decide: `transformer/` → SD3, `text_encoder_2/` + `unet/` → SDXL, `unet/` → SD.
 *
 * A hub id of a PyTorch-only repository with a known ONNX export (`runwayml/stable-diffusion-v1-5`
 * → `onnx-community/stable-diffusion-v1-5-ONNX`, onnx-equivalents.ts) loads the export, with an
 * `info` log line; any other diffusers PyTorch layout fails naming the layout needed and the
 * `optimum-cli export onnx` command that writes it. Without an id it loads the embedded default
 * diffusion model of @vlm-grpo/models (an optional peer dependency, imported only then).
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { SdError } from './errors.js';
import { defaultDiffusionModelPath } from './load-default-model.js';
import { ModelRepository } from './model-files.js';
import { onnxConversionCommand, onnxEquivalent } from './onnx-equivalents.js';
import { defaultLogger } from './onnx-session.js';
import type { SD3GeneratorOptions } from './sd3-generator.js';
import { SD3Generator } from './sd3-generator.js';
import { StableDiffusionPipeline } from './stable-diffusion-pipeline.js';

const SD_CLASSES = new Set([
  'StableDiffusionPipeline',
  'OnnxStableDiffusionPipeline',
  'ORTStableDiffusionPipeline',
  'LatentConsistencyModelPipeline',
  'ORTLatentConsistencyModelPipeline',
  'OnnxLatentConsistencyModelPipeline',
]);
const SDXL_CLASSES = new Set([
  'StableDiffusionXLPipeline',
  'ORTStableDiffusionXLPipeline',
  'OnnxStableDiffusionXLPipeline',
  'LCMStableDiffusionXLPipeline',
  'ORTLatentConsistencyModelSDXLPipeline',
]);
const SD3_CLASSES = new Set(['StableDiffusion3Pipeline', 'ORTStableDiffusion3Pipeline', 'OnnxStableDiffusion3Pipeline']);

/** Any pipeline this package loads. */
export type AnyDiffusionPipeline = StableDiffusionPipeline | SD3Generator;

/** Entry point that picks the pipeline class from `model_index.json`. */
export class DiffusionPipeline {
  private constructor() {}

  /**
   * Load the pipeline a model folder or Hub repository declares. Default `idOrPath` (undefined):
   * the embedded default `diffusion` model from the optional peer dependency @vlm-grpo/models
   * (offline; SD_DEFAULT_MODEL_UNAVAILABLE when that package is not installed). Pass `undefined`
   * to give options without an id.
   * Throws SD_MODEL_FILE_NOT_FOUND (naming the file) for missing files and
   * SD_UNSUPPORTED_PIPELINE for pipeline classes this package does not implement.
   */
  static async fromPretrained(idOrPath?: string, options: SD3GeneratorOptions = {}): Promise<AnyDiffusionPipeline> {
    if (idOrPath === undefined) idOrPath = await defaultDiffusionModelPath('DiffusionPipeline.fromPretrained()');
    const equivalent = existsSync(resolve(idOrPath)) ? undefined : onnxEquivalent(idOrPath);
    if (equivalent !== undefined) {
      (options.logger ?? defaultLogger)('info', `${idOrPath} has no ONNX files; using its ONNX export ${equivalent} (same weights, Optimum ONNX layout)`);
    }
    const repo = ModelRepository.open(equivalent ?? idOrPath, options);
    const modelIndex = (await repo.json('model_index.json', 'pipeline index (model_index.json)', false)) ?? {};
    const onnxDenoiser = (await repo.file('unet/model.onnx', 'UNet', false)) ?? (await repo.file('transformer/model.onnx', 'transformer', false));
    if (onnxDenoiser === undefined && (Object.keys(modelIndex).length > 0 || (await repo.file('unet/config.json', 'UNet config', false)) !== undefined)) {
      throw new SdError(
        'SD_MODEL_FILE_NOT_FOUND',
        `${repo.source} is in the diffusers PyTorch layout (model_index.json without unet/model.onnx or transformer/model.onnx); ` +
          'this package runs the Optimum ONNX layout (text_encoder/model.onnx, unet/model.onnx, vae_decoder/model.onnx, scheduler/, tokenizer/). ' +
          `Convert it once with: ${onnxConversionCommand(repo.source)} and pass that folder`,
      );
    }
    const cls = typeof modelIndex['_class_name'] === 'string' ? modelIndex['_class_name'] : undefined;
    if (cls && SD3_CLASSES.has(cls)) return SD3Generator.fromRepository(repo, options);
    if (cls && SDXL_CLASSES.has(cls)) return StableDiffusionPipeline.fromRepository(repo, modelIndex, 'sdxl', options);
    if (cls && SD_CLASSES.has(cls)) return StableDiffusionPipeline.fromRepository(repo, modelIndex, 'sd', options);
    if (await repo.hasComponent('transformer')) return SD3Generator.fromRepository(repo, options);
    if (await repo.hasComponent('unet')) {
      const arch = (await repo.hasComponent('text_encoder_2')) ? 'sdxl' : 'sd';
      return StableDiffusionPipeline.fromRepository(repo, modelIndex, arch, options);
    }
    if (cls) {
      throw new SdError(
        'SD_UNSUPPORTED_PIPELINE',
        `${repo.source}: model_index.json _class_name "${cls}" is not supported (SD 1.x/2.x, SDXL, SD3 are)`,
      );
    }
    throw new SdError(
      'SD_MODEL_FILE_NOT_FOUND',
      `${repo.root}: no model_index.json, unet/ or transformer/ found: not a diffusers ONNX layout`,
    );
  }
}
