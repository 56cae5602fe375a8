/**
 * Stable Diffusion 1.x / 2.x / SD-Turbo / LCM-distilled and SDXL / SDXL-Turbo text-to-image over
 * ONNX Runtime (diffusers `StableDiffusionPipeline`, `OnnxStableDiffusionPipeline`,
 * `StableDiffusionXLPipeline`).
 *
 * SD 1.x/2.x: `encoder_hidden_states` = text_encoder(ids).last_hidden_state; negative "" when
 * guidance runs without a negative prompt.
 * SDXL: `encoder_hidden_states` = concat(TE1.hidden_states[−2], TE2.hidden_states[−2]);
 * `text_embeds` = TE2.text_embeds; `time_ids` = [H, W, 0, 0, H, W]; with
 * `force_zeros_for_empty_prompt` (model_index.json, default true) and no negative prompt, the
 * negative embeddings are zeros.
 * UNets with a `timestep_cond` input (LCM-distilled) get the guidance embedding of
 * w = (guidance − 1)·1000 (sin ‖ cos, 10000^(−i/(d/2−1))) and no classifier-free guidance, as
 * diffusers does when `time_cond_proj_dim` is set.
 * Departures: no safety checker; SDXL micro-conditioning uses the output size (no crops or
 * separate original size); no refiner / `denoising_end`.
 */
import { ClipTokenizer } from './clip-tokenizer.js';
import { SdError } from './errors.js';
import { defaultDiffusionModelPath } from './load-default-model.js';
import type { ModelRepository } from './model-files.js';
import type { Conditioning, PipelineOptions } from './pipeline-base.js';
import { BasePipeline, Component } from './pipeline-base.js';
import type { FloatTensor } from './text-encoder.js';
import { concatLastDim, encodeClip, stack, zerosLike } from './text-encoder.js';

/** Architectures handled by {@link StableDiffusionPipeline}. */
export type StableDiffusionArchitecture = 'sd' | 'sdxl';

/** diffusers `get_guidance_scale_embedding` for one w, dimension `dim`. */
export function guidanceScaleEmbedding(w: number, dim: number): Float32Array {
  const half = Math.floor(dim / 2);
  const scale = Math.log(10000) / (half - 1);
  const out = new Float32Array(dim);
  const ww = w * 1000;
  for (let i = 0; i < half; i++) {
    const e = Math.fround(Math.exp(i * -scale));
    out[i] = Math.sin(ww * e);
    out[half + i] = Math.cos(ww * e);
  }
  return out;
}

/** Stable Diffusion 1.x/2.x/Turbo/LCM and SDXL pipeline. */
export class StableDiffusionPipeline extends BasePipeline {
  /** `sd` (one CLIP encoder) or `sdxl` (two). */
  readonly architecture: StableDiffusionArchitecture;
  /** The CLIP tokenizer(s). */
  readonly tokenizers: readonly ClipTokenizer[];
  private readonly textEncoders: Component[];
  private readonly unet: Component;
  private readonly unetSampleSize: number;
  private readonly forceZerosForEmptyPrompt: boolean;

  private constructor(
    repo: ModelRepository,
    parts: {
      architecture: StableDiffusionArchitecture;
      tokenizers: ClipTokenizer[];
      schedulerConfig: Record<string, unknown>;
      vaeConfig: Record<string, unknown>;
      unetConfig: Record<string, unknown>;
      modelIndex: Record<string, unknown>;
    },
    options: PipelineOptions,
  ) {
    super(repo, parts.schedulerConfig, parts.vaeConfig, options);
    this.architecture = parts.architecture;
    this.tokenizers = parts.tokenizers;
    const keep = !options.memoryEfficient;
    this.textEncoders = (parts.architecture === 'sdxl' ? ['text_encoder', 'text_encoder_2'] : ['text_encoder']).map(
      (f) => new Component(repo, f, options, keep),
    );
    this.unet = new Component(repo, 'unet', options, keep);
    const ss = parts.unetConfig['sample_size'];
    this.unetSampleSize = typeof ss === 'number' ? ss : parts.architecture === 'sdxl' ? 128 : 64;
    this.forceZerosForEmptyPrompt = parts.modelIndex['force_zeros_for_empty_prompt'] !== false;
  }

  /**
   * Load an SD/SDXL ONNX folder or Hub repository (Optimum/diffusers layout). Missing required
   * files are SD_MODEL_FILE_NOT_FOUND naming the file. Default `idOrPath` (undefined): the
   * embedded default `diffusion` model (Stable Diffusion 1.x) from the optional peer dependency
   * @vlm-grpo/models (SD_DEFAULT_MODEL_UNAVAILABLE when that package is not installed).
   */
  static async fromPretrained(idOrPath?: string, options: PipelineOptions = {}): Promise<StableDiffusionPipeline> {
    if (idOrPath === undefined) idOrPath = await defaultDiffusionModelPath('StableDiffusionPipeline.fromPretrained()');
    const { ModelRepository } = await import('./model-files.js');
    const repo = ModelRepository.open(idOrPath, options);
    const modelIndex = (await repo.json('model_index.json', 'pipeline index', false)) ?? {};
    const architecture: StableDiffusionArchitecture = (await repo.hasComponent('text_encoder_2')) ? 'sdxl' : 'sd';
    return StableDiffusionPipeline.fromRepository(repo, modelIndex, architecture, options);
  }

  /** @internal Build from an opened repository (used by `DiffusionPipeline`). */
  static async fromRepository(
    repo: ModelRepository,
    modelIndex: Record<string, unknown>,
    architecture: StableDiffusionArchitecture,
    options: PipelineOptions,
  ): Promise<StableDiffusionPipeline> {
    const schedulerConfig = await repo.json('scheduler/scheduler_config.json', 'scheduler config', true);
    const vaeConfig = (await repo.json('vae_decoder/config.json', 'VAE decoder config', false)) ?? {};
    const unetConfig = (await repo.json('unet/config.json', 'UNet config', false)) ?? {};
    await repo.file('unet/model.onnx', 'UNet model', true);
    await repo.file('vae_decoder/model.onnx', 'VAE decoder model', true);
    const folders = architecture === 'sdxl' ? ['tokenizer', 'tokenizer_2'] : ['tokenizer'];
    const tokenizers: ClipTokenizer[] = [];
    for (const [i, folder] of folders.entries()) {
      await repo.file(`text_encoder${i === 0 ? '' : '_2'}/model.onnx`, `text encoder ${i + 1} model`, true);
      for (const f of ['tokenizer_config.json', 'special_tokens_map.json', 'tokenizer.json']) await repo.file(`${folder}/${f}`, folder, false);
      if (!(await repo.file(`${folder}/tokenizer.json`, folder, false))) {
        await repo.file(`${folder}/vocab.json`, `${folder} vocabulary`, true);
        await repo.file(`${folder}/merges.txt`, `${folder} merges`, true);
      }
      tokenizers.push(await ClipTokenizer.fromFolder(`${repo.root}/${folder}`));
    }
    const pipe = new StableDiffusionPipeline(
      repo,
      { architecture, tokenizers, schedulerConfig, vaeConfig, unetConfig, modelIndex },
      options,
    );
    if (!options.memoryEfficient) {
      for (const te of pipe.textEncoders) await te.get();
      await pipe.unet.get();
      await pipe.vae.get();
    }
    return pipe;
  }

  protected defaultScalingFactor(): number {
    return this.architecture === 'sdxl' ? 0.13025 : 0.18215;
  }

  protected defaults(): { steps: number; guidanceScale: number; height: number; width: number } {
    const size = this.unetSampleSize * this.vaeScaleFactor;
    return { steps: 50, guidanceScale: this.architecture === 'sdxl' ? 5 : 7.5, height: size, width: size };
  }

  protected sizeMultiple(): number {
    return this.vaeScaleFactor;
  }

  protected denoiserComponent(): Component {
    return this.unet;
  }

  protected sampleInputName(): string {
    return 'sample';
  }

  protected async usesGuidance(guidanceScale: number): Promise<boolean> {
    const inputs = await this.unet.inputs();
    return guidanceScale > 1 && !inputs.has('timestep_cond');
  }

  protected async releaseEncoders(now: boolean): Promise<void> {
    for (const te of this.textEncoders) await (now ? te.release() : te.done());
  }

  /**
   * Prompt embeddings as the pipeline feeds them to the UNet, for one prompt:
   * `encoder_hidden_states` [1, 77, D] (and SDXL `text_embeds` [1, 1280]).
   */
  async encodePrompt(prompt: string): Promise<Map<string, FloatTensor>> {
    const out = await this.encodeOne(prompt);
    await this.releaseEncoders(false);
    return out;
  }

  protected async encodeOne(prompt: string): Promise<Map<string, FloatTensor>> {
    if (this.architecture === 'sd') {
      const te = await this.textEncoders[0]!.get();
      const { hidden } = await encodeClip(te, this.tokenizers[0]!, prompt, 'last', false);
      return new Map([['encoder_hidden_states', hidden]]);
    }
    const te1 = await this.textEncoders[0]!.get();
    const te2 = await this.textEncoders[1]!.get();
    const a = await encodeClip(te1, this.tokenizers[0]!, prompt, 'penultimate', false);
    const b = await encodeClip(te2, this.tokenizers[1]!, prompt, 'penultimate', true);
    return new Map([
      ['encoder_hidden_states', concatLastDim(a.hidden, b.hidden)],
      ['text_embeds', b.pooled!],
    ]);
  }

  protected async encode(
    prompts: readonly string[],
    negatives: readonly (string | undefined)[],
    guidance: boolean,
    size: { height: number; width: number },
    guidanceScale: number,
  ): Promise<Conditioning> {
    const get = this.memoizedEncodeOne();
    const condList: Map<string, FloatTensor>[] = [];
    for (const p of prompts) condList.push(await get(p));
    const cond = stackMaps(condList);
    let uncond: Map<string, FloatTensor> | undefined;
    if (guidance) {
      const list: Map<string, FloatTensor>[] = [];
      for (const [i, n] of negatives.entries()) {
        if (n === undefined && this.architecture === 'sdxl' && this.forceZerosForEmptyPrompt) {
          list.push(new Map([...condList[i]!].map(([k, v]) => [k, zerosLike(v)])));
        } else list.push(await get(n ?? ''));
      }
      uncond = stackMaps(list);
    }
    const unetInputs = await this.unet.inputs();
    const extras = new Map<string, FloatTensor>();
    if (unetInputs.has('time_ids')) {
      const ids = [size.height, size.width, 0, 0, size.height, size.width];
      extras.set('time_ids', { data: Float32Array.from(prompts.flatMap(() => ids)), dims: [prompts.length, 6] });
    }
    const tc = unetInputs.get('timestep_cond');
    if (tc) {
      const dim = tc.shape[1];
      if (typeof dim !== 'number') {
        throw new SdError('SD_INVALID_MODEL', 'unet: timestep_cond has a symbolic embedding size; cannot build the guidance embedding');
      }
      const emb = guidanceScaleEmbedding(guidanceScale - 1, dim);
      const data = new Float32Array(prompts.length * dim);
      for (let i = 0; i < prompts.length; i++) data.set(emb, i * dim);
      extras.set('timestep_cond', { data, dims: [prompts.length, dim] });
    }
    for (const [k, v] of extras) {
      cond.set(k, v);
      uncond?.set(k, v);
    }
    return uncond ? { cond, uncond } : { cond };
  }
}

function stackMaps(list: readonly Map<string, FloatTensor>[]): Map<string, FloatTensor> {
  const out = new Map<string, FloatTensor>();
  for (const key of list[0]!.keys()) out.set(key, stack(list.map((m) => m.get(key)!)));
  return out;
}
