/**
 * The denoising loop shared by every pipeline here, after diffusers' `StableDiffusionPipeline`,
 * `StableDiffusionXLPipeline` and `StableDiffusion3Pipeline.__call__`:
 *
 *   embeds  = encode(prompts) (+ encode(negative) when guidance > 1)  — batch order [uncond, cond]
 *   latents = (explicit latents | N(0, I) per image) · init_noise_sigma        [B, C, H/f, W/f]
 *   for t in scheduler.timesteps:
 *     x_in  = scale_model_input(latents, t), duplicated for guidance
 *     ε     = denoiser(x_in, t, embeds);  ε = ε_u + g·(ε_c − ε_u)
 *     latents = scheduler.step(ε, t, latents)
 *   image = VAE(latents / scaling_factor + shift_factor) → clamp(x/2 + 0.5) → HWC
 *
 * Departures from diffusers: the initial noise comes from this package's Philox generator (image i
 * of a call uses `seed + i`; pass `latents` to reproduce a diffusers run exactly); text encoders
 * run one prompt at a time (batch 1, so exports with a fixed batch of 1 work); VAE slicing decodes
 * one image at a time; no safety checker.
 */
import { QualityCheckError, SdError } from './errors.js';
import type { HubOptions, ModelRepository } from './model-files.js';
import type { Logger, SessionSettings, TensorInfo } from './onnx-session.js';
import type { AffineStep } from './affine-step.js';
import { isCallerError, runGpuDenoiseLoop } from './gpu-denoise-loop.js';
import { defaultLogger, loadOrt, OnnxModel, type OrtTensor } from './onnx-session.js';
import { PhiloxGenerator, randomSeed } from './random.js';
import type { NoiseSource, Scheduler } from './scheduler.js';
import type { SchedulerSpec } from './scheduler-factory.js';
import { createScheduler } from './scheduler-factory.js';
import type { QualityReport, QualityThresholds } from './sd-image.js';
import type { FloatTensor } from './text-encoder.js';
import { checkQuality, postprocess, SdImage, toUint8 } from './sd-image.js';
import type { StageTimings } from './timings.js';
import { since } from './timings.js';

/** What to do with an image that fails quality validation. */
export type ValidationMode = 'report' | 'error' | 'off';

/** Options of `fromPretrained`. */
export interface PipelineOptions extends SessionSettings, HubOptions {
  /**
   * Load the text encoder(s), denoiser and VAE decoder one at a time, each released after its
   * stage, and decode the VAE one image at a time (default: false: keep all sessions loaded).
   */
  memoryEfficient?: boolean;
  /** Decode one image at a time (default: same as `memoryEfficient`). */
  vaeSlicing?: boolean;
  /**
   * With classifier-free guidance, run the unconditional and the conditional halves as two
   * denoiser calls of batch B instead of one of batch 2B: the denoiser's activations peak at half
   * the size, at the cost of a second launch per step (default: same as `memoryEfficient`).
   * Results equal the batched ones up to the kernels' batch-size-dependent rounding.
   */
  sequentialCfg?: boolean;
  /** Quality validation of every image (default: `'report'`: issues in `image.quality`). */
  validation?: ValidationMode;
  /** Thresholds of the quality validation. */
  qualityThresholds?: QualityThresholds;
  /** Scheduler to use instead of the model's `scheduler_config.json` `_class_name` (default: the model's). */
  scheduler?: string | SchedulerSpec;
  /**
   * On WebGPU, upload the text conditioning to the GPU once per call and feed the same GPU tensors
   * to every denoising step (default: true). Falls back to host tensors, with a warning, if the
   * upload fails.
   */
  gpuResidentConditioning?: boolean;
  /**
   * On WebGPU, keep the latents on the GPU for the whole denoising loop (default: true): the
   * denoiser writes into GPU buffers, a small ONNX step graph applies classifier-free guidance,
   * the scheduler step and the next `scale_model_input` there, and the latents are read back once
   * for the VAE (see `gpu-denoise-loop.ts`). Used with every scheduler whose step is affine (all
   * here except DDIM/LCM with `clip_sample: true`, which stay on the host). If anything on that
   * path fails, the call restarts on the host loop with one warning and later calls stay there.
   * No effect on other devices.
   */
  gpuResidentLatents?: boolean;
}

/** Progress of one denoising step. */
export interface StepInfo {
  /** 0-based index of the denoiser call. */
  step: number;
  /** Number of denoiser calls in this generation. */
  totalSteps: number;
  /** Scheduler timestep of this step. */
  timestep: number;
  /**
   * Latents after this step (whole batch, C order). Do not modify. With GPU-resident latents
   * (WebGPU) they are not on the host: reading this throws SD_INVALID_ARGUMENT; use
   * {@link readLatents}.
   */
  readonly latents: Float32Array;
  /** The latents after this step on every path (a GPU read-back on WebGPU); call it during the callback. */
  readLatents(): Promise<Float32Array>;
}

/** Options of `generateImage(s)`. */
export interface GenerateOptions {
  /** Negative prompt(s), one per prompt or one for all (default: none; `""` is used with guidance). */
  negativePrompt?: string | readonly string[];
  /** Classifier-free guidance scale; guidance runs when > 1 (default: 7.5 SD, 5 SDXL, 7 SD3). */
  guidanceScale?: number;
  /** Number of denoising steps (default: 50 SD/SDXL, 28 SD3). */
  steps?: number;
  /** Image height in pixels, a multiple of the VAE factor (default: the model's sample size × factor). */
  height?: number;
  /** Image width in pixels (default: as height). */
  width?: number;
  /** Seed of the initial noise; image i uses seed + i (default: a random seed, reported per image). */
  seed?: number;
  /** Initial latents [B, C, H/f, W/f] flattened, B = prompts × numImagesPerPrompt (scaled by init_noise_sigma, as diffusers). */
  latents?: Float32Array;
  /** Images per prompt (default: 1). */
  numImagesPerPrompt?: number;
  /** Scheduler for this call (name, `{name, config}` over the model's config, or an instance). */
  scheduler?: string | SchedulerSpec | Scheduler;
  /** DDIM η (default: 0). */
  eta?: number;
  /** Called after every denoising step; awaited. */
  onStep?: (info: StepInfo) => void | Promise<void>;
  /** Abort signal: checked before every step and before decoding (throws SD_ABORTED). */
  signal?: AbortSignal;
  /** `'uint8'` (default) or `'float32'` to also get HWC floats in [0, 1] in `image.float32`. */
  outputType?: 'uint8' | 'float32';
  /** Overrides the pipeline's validation mode for this call. */
  validation?: ValidationMode;
}

/** Text conditioning for a batch: tensors fed to the denoiser, cond and (with guidance) uncond. */
export interface Conditioning {
  /** Tensors for the conditional batch, by denoiser input name (leading dim = batch). */
  cond: Map<string, { data: Float32Array; dims: number[] }>;
  /** Same for the unconditional batch (present when guidance is on). */
  uncond?: Map<string, { data: Float32Array; dims: number[] }>;
}

/** A loaded ONNX component, kept or released per stage. */
export class Component {
  private model: OnnxModel | undefined;
  private loading: Promise<OnnxModel> | undefined;
  private inputInfo: ReadonlyMap<string, TensorInfo> | undefined;

  constructor(
    private readonly repo: ModelRepository,
    /** Folder of the component (`unet`, `vae_decoder`…). */
    readonly folder: string,
    private readonly settings: SessionSettings,
    private readonly keep: boolean,
  ) {}

  /** The session, loading it if needed. */
  async get(): Promise<OnnxModel> {
    if (this.model) return this.model;
    this.loading ??= (async () => {
      const path = await this.repo.file(`${this.folder}/model.onnx`, `${this.folder} model`, true);
      await this.repo.file(`${this.folder}/model.onnx_data`, `${this.folder} external data`, false);
      const m = await OnnxModel.load(path, this.folder, this.settings);
      this.model = m;
      this.inputInfo = m.inputs;
      return m;
    })();
    try {
      return await this.loading;
    } finally {
      this.loading = undefined;
    }
  }

  /**
   * The declared inputs. Cached after the first load; in memory-efficient mode a session that is
   * not loaded is loaded once to read them and released again.
   */
  async inputs(): Promise<ReadonlyMap<string, TensorInfo>> {
    if (this.inputInfo) return this.inputInfo;
    const wasLoaded = this.model !== undefined;
    const m = await this.get();
    if (!wasLoaded) await this.done();
    return m.inputs;
  }

  /** End of a stage: release unless sessions are kept. */
  async done(): Promise<void> {
    if (!this.keep) await this.release();
  }

  /** Release the session now. */
  async release(): Promise<void> {
    const m = this.model;
    this.model = undefined;
    await m?.release();
  }
}

/** Concatenate two [B, …] tensors along the batch dimension. */
export function concatBatch(
  a: { data: Float32Array; dims: number[] },
  b: { data: Float32Array; dims: number[] },
): { data: Float32Array; dims: number[] } {
  const data = new Float32Array(a.data.length + b.data.length);
  data.set(a.data, 0);
  data.set(b.data, a.data.length);
  return { data, dims: [a.dims[0]! + b.dims[0]!, ...a.dims.slice(1)] };
}

/** Repeat each item of a [N, …] tensor `times` times (diffusers' `repeat(1, n, 1).view(N·n, …)`). */
export function repeatEach(t: { data: Float32Array; dims: number[] }, times: number): { data: Float32Array; dims: number[] } {
  if (times === 1) return t;
  const n = t.dims[0]!;
  const per = t.data.length / n;
  const out = new Float32Array(t.data.length * times);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < times; k++) out.set(t.data.subarray(i * per, (i + 1) * per), (i * times + k) * per);
  }
  return { data: out, dims: [n * times, ...t.dims.slice(1)] };
}

/** Shared generation logic of the SD/SDXL pipeline and the SD3 generator. */
export abstract class BasePipeline {
  /** Where the model files are. */
  readonly repo: ModelRepository;
  /** The model's `scheduler_config.json`. */
  readonly schedulerConfig: Record<string, unknown>;
  /** The scheduler used when a call does not override it (a fresh copy is made per call). */
  readonly scheduler: Scheduler;
  /** How {@link scheduler} was specified (class name and config overrides). */
  protected readonly schedulerSpec: SchedulerSpec;
  /** VAE spatial factor f (2^(len(block_out_channels) − 1); 8 for real SD models). */
  readonly vaeScaleFactor: number;
  /** VAE `scaling_factor`. */
  readonly vaeScalingFactor: number;
  /** VAE `shift_factor` (SD3; 0 otherwise). */
  readonly vaeShiftFactor: number;
  protected readonly options: PipelineOptions;
  protected readonly logger: Logger;
  /** A GPU upload of the conditioning failed once: later calls keep it on the host. */
  private residentFailed = false;
  /** The GPU-resident latent loop failed once: later calls use the host loop. */
  private residentLatentsFailed = false;
  protected readonly vae: Component;
  protected released = false;

  protected constructor(
    repo: ModelRepository,
    schedulerConfig: Record<string, unknown>,
    vaeConfig: Record<string, unknown>,
    options: PipelineOptions,
  ) {
    this.repo = repo;
    this.options = options;
    this.logger = options.logger ?? defaultLogger;
    this.schedulerConfig = schedulerConfig;
    this.schedulerSpec =
      typeof options.scheduler === 'string' ? { name: options.scheduler } : (options.scheduler ?? { name: this.defaultSchedulerName() });
    this.scheduler = createScheduler(this.schedulerSpec, schedulerConfig);
    const blocks = vaeConfig['block_out_channels'];
    this.vaeScaleFactor = Array.isArray(blocks) && blocks.length > 0 ? 2 ** (blocks.length - 1) : 8;
    this.vaeScalingFactor = typeof vaeConfig['scaling_factor'] === 'number' ? vaeConfig['scaling_factor'] : this.defaultScalingFactor();
    this.vaeShiftFactor = typeof vaeConfig['shift_factor'] === 'number' ? vaeConfig['shift_factor'] : 0;
    this.vae = new Component(repo, 'vae_decoder', options, !options.memoryEfficient);
  }

  /** The scheduler class named by `scheduler_config.json` `_class_name`. */
  protected defaultSchedulerName(): string {
    const cls = this.schedulerConfig['_class_name'];
    if (typeof cls !== 'string') {
      throw new SdError('SD_INVALID_MODEL', `${this.repo.source}: scheduler/scheduler_config.json has no "_class_name"`);
    }
    return cls;
  }
  /** VAE scaling factor when `vae_decoder/config.json` has none. */
  protected abstract defaultScalingFactor(): number;
  /** Default steps, guidance and size. */
  protected abstract defaults(): { steps: number; guidanceScale: number; height: number; width: number };
  /** Image sizes must be multiples of this. */
  protected abstract sizeMultiple(): number;
  /** Encode prompts (cond) and negatives (uncond when `guidance`), batch = prompts.length. */
  protected abstract encode(
    prompts: readonly string[],
    negatives: readonly (string | undefined)[],
    guidance: boolean,
    size: { height: number; width: number },
    guidanceScale: number,
  ): Promise<Conditioning>;
  /** Conditioning tensors of one prompt (the text encoders' outputs, batch 1). */
  protected abstract encodeOne(prompt: string): Promise<Map<string, FloatTensor>>;
  /**
   * {@link encodeOne} memoised for the duration of one `encode` call, so a prompt repeated in the
   * batch (and the shared negative prompt) runs the text encoders once.
   */
  protected memoizedEncodeOne(): (text: string) => Promise<Map<string, FloatTensor>> {
    const cache = new Map<string, Promise<Map<string, FloatTensor>>>();
    return (text) => {
      let encoded = cache.get(text);
      if (!encoded) {
        encoded = this.encodeOne(text);
        cache.set(text, encoded);
      }
      return encoded;
    };
  }
  /** The denoiser component. */
  protected abstract denoiserComponent(): Component;
  /** Name of the denoiser's latent input (`sample` / `hidden_states`). */
  protected abstract sampleInputName(): string;
  /** Whether classifier-free guidance runs for this scale (false for guidance-distilled LCM UNets). */
  protected abstract usesGuidance(guidanceScale: number): Promise<boolean>;
  /** Release every text encoder after encoding (memory-efficient mode) or on `release()`. */
  protected abstract releaseEncoders(now: boolean): Promise<void>;
  /** Options for `setTimesteps` (flow matching μ). */
  protected timestepOptions(_size: { height: number; width: number }, _scheduler: Scheduler): { mu?: number } {
    return {};
  }

  /** Number of latent channels the denoiser expects. */
  protected async latentChannels(): Promise<number> {
    const inputs = await this.denoiserComponent().inputs();
    const dim = inputs.get(this.sampleInputName())?.shape[1];
    return typeof dim === 'number' ? dim : 4;
  }

  /** Generate one image for one prompt. */
  async generateImage(prompt: string, options: GenerateOptions = {}): Promise<SdImage> {
    const images = await this.generateImages([prompt], { ...options, numImagesPerPrompt: 1 });
    return images[0]!;
  }

  /** Generate `numImagesPerPrompt` images for every prompt (prompt-major order). */
  async generateImages(prompts: readonly string[], options: GenerateOptions = {}): Promise<SdImage[]> {
    const t0 = performance.now();
    if (this.released) throw new SdError('SD_RELEASED', 'pipeline used after release()');
    if (!Array.isArray(prompts) || prompts.length === 0) {
      throw new SdError('SD_EMPTY_PROMPTS', 'generateImages: the prompt list is empty');
    }
    prompts.forEach((p, i) => {
      if (typeof p !== 'string') throw new SdError('SD_INVALID_ARGUMENT', `prompts[${i}] is not a string`);
    });
    const d = this.defaults();
    const steps = options.steps ?? d.steps;
    const guidanceScale = options.guidanceScale ?? d.guidanceScale;
    const height = options.height ?? d.height;
    const width = options.width ?? d.width;
    const perPrompt = options.numImagesPerPrompt ?? 1;
    const multiple = this.sizeMultiple();
    if (!Number.isInteger(steps) || steps < 1) throw new SdError('SD_INVALID_ARGUMENT', `steps must be an integer ≥ 1, got ${steps}`);
    if (!Number.isFinite(guidanceScale)) throw new SdError('SD_INVALID_ARGUMENT', `guidanceScale must be finite, got ${guidanceScale}`);
    if (!Number.isInteger(perPrompt) || perPrompt < 1) {
      throw new SdError('SD_INVALID_ARGUMENT', `numImagesPerPrompt must be an integer ≥ 1, got ${perPrompt}`);
    }
    for (const [name, v] of [['height', height], ['width', width]] as const) {
      if (!Number.isInteger(v) || v <= 0 || v % multiple !== 0) {
        throw new SdError('SD_INVALID_ARGUMENT', `${name} must be a positive multiple of ${multiple} (the VAE factor), got ${v}`);
      }
    }
    const negatives = this.negatives(prompts.length, options.negativePrompt);
    const validation = options.validation ?? this.options.validation ?? 'report';
    const signal = options.signal;
    const checkAbort = (): void => {
      if (signal?.aborted) throw new SdError('SD_ABORTED', 'generation aborted', { cause: signal.reason });
    };
    checkAbort();

    const scheduler = this.resolveScheduler(options.scheduler);
    if (options.eta !== undefined) {
      if (!('eta' in scheduler)) throw new SdError('SD_INVALID_ARGUMENT', `eta is only used by DDIMScheduler, not ${scheduler.className}`);
      (scheduler as { eta: number }).eta = options.eta;
    }
    const timings: StageTimings = { loadSeconds: 0, textEncoderSeconds: 0, stepSeconds: [], vaeSeconds: 0, totalSeconds: 0 };

    // 1. Text conditioning.
    let tStage = performance.now();
    const guidance = await this.usesGuidance(guidanceScale);
    const enc = await this.encode(prompts, negatives, guidance, { height, width }, guidanceScale);
    await this.releaseEncoders(false);
    const cond = new Map([...enc.cond].map(([k, v]) => [k, repeatEach(v, perPrompt)]));
    const uncond = enc.uncond ? new Map([...enc.uncond].map(([k, v]) => [k, repeatEach(v, perPrompt)])) : undefined;
    const feedsCond = uncond ? new Map([...cond].map(([k, v]) => [k, concatBatch(uncond.get(k)!, v)])) : cond;
    timings.textEncoderSeconds = since(tStage);
    checkAbort();

    // 2. Latents.
    tStage = performance.now();
    const denoiser = await this.denoiserComponent().get();
    timings.loadSeconds += since(tStage);
    const batch = prompts.length * perPrompt;
    const channels = await this.latentChannels();
    const lh = height / this.vaeScaleFactor;
    const lw = width / this.vaeScaleFactor;
    const perImage = channels * lh * lw;
    const dims = [batch, channels, lh, lw];
    scheduler.setTimesteps(steps, this.timestepOptions({ height, width }, scheduler));
    const seed = options.latents ? undefined : (options.seed ?? randomSeed());
    let latents: Float32Array;
    if (options.latents) {
      if (!(options.latents instanceof Float32Array) || options.latents.length !== batch * perImage) {
        throw new SdError(
          'SD_INVALID_ARGUMENT',
          `latents must be a Float32Array of shape [${dims.join(', ')}] (${batch * perImage} values), got ${options.latents?.length}`,
        );
      }
      latents = Float32Array.from(options.latents);
    } else {
      latents = new Float32Array(batch * perImage);
      for (let i = 0; i < batch; i++) latents.set(new PhiloxGenerator(seed! + i).randn(perImage), i * perImage);
    }
    const sigma0 = scheduler.initNoiseSigma;
    if (sigma0 !== 1) for (let i = 0; i < latents.length; i++) latents[i] = latents[i]! * sigma0;
    // Step noise (ancestral/SDE/LCM) comes from separate per-image streams: seed + i + 0x5eed, where
    // the seed is `options.seed` even with explicit latents (0 when neither is given).
    const noiseSeed = options.seed ?? seed ?? 0;
    const noiseStreams = (): NoiseSource => {
      const generators = Array.from({ length: batch }, (_, i) => new PhiloxGenerator((noiseSeed + i + 0x5eed) % Number.MAX_SAFE_INTEGER));
      return () => {
        const out = new Float32Array(batch * perImage);
        for (let i = 0; i < batch; i++) out.set(generators[i]!.randn(perImage), i * perImage);
        return out;
      };
    };
    let noise = noiseStreams();

    // 3. Denoising loop (conditioning uploaded once on WebGPU; see PipelineOptions).
    // Sequential CFG: the unconditional and conditional halves as two calls of batch B.
    const sequential = uncond !== undefined && (this.options.sequentialCfg ?? this.options.memoryEfficient ?? false);
    const halves = sequential ? [uncond!, cond] : [feedsCond];
    const residents: (Map<string, OrtTensor> | undefined)[] = [];
    for (const half of halves) residents.push(await this.uploadConditioning(denoiser, half));
    let i0 = 0;
    const resident = residents[0];
    const total = scheduler.timesteps.length;
    try {
      // GPU-resident latents (WebGPU): the whole loop on the GPU, else the host loop below.
      const plans = this.gpuLatentPlans(denoiser, scheduler);
      if (plans) {
        const conditioningFeeds = (half: number): Record<string, OrtTensor> => {
          const feeds: Record<string, OrtTensor> = {};
          for (const [name, v] of halves[half]!) {
            if (denoiser.input(name)) feeds[name] = residents[half]?.get(name) ?? denoiser.floatTensor(name, v.data, v.dims);
          }
          return feeds;
        };
        try {
          latents = await runGpuDenoiseLoop({
            ort: (await loadOrt()) as unknown as Parameters<typeof runGpuDenoiseLoop>[0]['ort'],
            model: denoiser,
            sampleInputName: this.sampleInputName(),
            scheduler,
            plans,
            latents,
            dims,
            guidance: uncond ? (sequential ? 'sequential' : 'batched') : 'none',
            guidanceScale,
            conditioning: conditioningFeeds,
            noise,
            checkAbort,
            ...(options.onStep ? { onStep: options.onStep } : {}),
            stepSeconds: timings.stepSeconds,
          });
          i0 = total;
        } catch (error) {
          if (isCallerError(error)) throw error;
          this.residentLatentsFailed = true;
          this.logger('warn', `latents go back to the host loop (GPU-resident loop failed: ${(error as Error).message.split('\n')[0]})`);
          timings.stepSeconds.length = 0;
          noise = noiseStreams();
        }
      }
      for (let i = i0; i < total; i++) {
        checkAbort();
        const tStep = performance.now();
        const t = scheduler.timesteps[i]!;
        const scaled = scheduler.scaleModelInput(latents, i);
        let out: Float32Array;
        if (sequential) {
          const single = { data: scaled, dims };
          out = new Float32Array(2 * latents.length);
          out.set(await this.runDenoiser(denoiser, single, t, halves[0]!, residents[0]), 0);
          out.set(await this.runDenoiser(denoiser, single, t, halves[1]!, residents[1]), latents.length);
        } else {
          const input = uncond ? concatBatch({ data: scaled, dims }, { data: scaled, dims }) : { data: scaled, dims };
          out = await this.runDenoiser(denoiser, input, t, feedsCond, resident);
        }
        let eps: Float32Array;
        if (uncond) {
          eps = new Float32Array(latents.length);
          const n = latents.length;
          for (let k = 0; k < n; k++) {
            const u = out[k]!;
            eps[k] = u + guidanceScale * (out[k + n]! - u);
          }
        } else eps = out;
        latents = scheduler.step(eps, i, latents, noise).prevSample;
        timings.stepSeconds.push(since(tStep));
        const current = latents;
        if (options.onStep) await options.onStep({ step: i, totalSteps: total, timestep: t, latents: current, readLatents: async () => current });
      }
    } finally {
      for (const r of residents) for (const tensor of r?.values() ?? []) tensor.dispose();
    }
    await this.denoiserComponent().done();
    checkAbort();

    // 4. VAE decode, validation and post-processing.
    tStage = performance.now();
    const decoded = await this.decodeLatents(latents, dims);
    timings.vaeSeconds = since(tStage);
    const images: SdImage[] = [];
    const outPer = 3 * height * width;
    for (let b = 0; b < batch; b++) {
      const raw = decoded.subarray(b * outPer, (b + 1) * outPer);
      const quality: QualityReport =
        validation === 'off'
          ? { ok: true, issues: [], stats: { min: Number.NaN, max: Number.NaN, mean: Number.NaN, std: Number.NaN } }
          : checkQuality(latents.subarray(b * perImage, (b + 1) * perImage), raw, this.options.qualityThresholds);
      if (!quality.ok) {
        if (validation === 'error') {
          throw new QualityCheckError(b, quality.issues, `mean ${quality.stats.mean}, std ${quality.stats.std}`);
        }
        this.logger('warn', `image ${b} ("${prompts[Math.floor(b / perPrompt)]}") failed quality validation: ${quality.issues.join(', ')}`);
      }
      const pixels = postprocess(raw, height, width);
      images.push(
        new SdImage({
          width,
          height,
          data: toUint8(pixels),
          ...(options.outputType === 'float32' ? { float32: pixels } : {}),
          prompt: prompts[Math.floor(b / perPrompt)]!,
          ...(seed !== undefined ? { seed: seed + b } : {}),
          quality,
          timings,
        }),
      );
    }
    timings.totalSeconds = since(t0);
    return images;
  }

  /**
   * Run the denoiser once: `sample` [B, C, h, w] at timestep `t` with the given conditioning
   * tensors (batch must match). Returns the first output (ε, v or velocity), float32.
   */
  async predict(
    sample: { data: Float32Array; dims: number[] },
    t: number,
    conditioning: Map<string, { data: Float32Array; dims: number[] }>,
  ): Promise<Float32Array> {
    const model = await this.denoiserComponent().get();
    return this.runDenoiser(model, sample, t, conditioning);
  }

  /**
   * The scheduler's affine step plans for the GPU-resident loop, when the denoiser runs on WebGPU,
   * `gpuResidentLatents` is not false, the loop has not failed before, the latent input and output
   * are float32/float16 and every step is affine; undefined otherwise (host loop).
   */
  private gpuLatentPlans(model: OnnxModel, scheduler: Scheduler): AffineStep[] | undefined {
    if (model.device !== 'webgpu' || this.options.gpuResidentLatents === false || this.residentLatentsFailed) return undefined;
    if (!scheduler.affineStep || !scheduler.inputScale) return undefined;
    const types = [model.input(this.sampleInputName())?.type, model.outputs[0]?.type];
    if (!types.every((t) => t === 'float32' || t === 'float16')) return undefined;
    const plans: AffineStep[] = [];
    for (let i = 0; i < scheduler.timesteps.length; i++) {
      const plan = scheduler.affineStep(i);
      if (!plan) {
        this.logger('info', `${scheduler.className}: this configuration's step is not affine (clip_sample), so the latents cross to the host each step`);
        return undefined;
      }
      plans.push(plan);
    }
    return plans;
  }

  /**
   * GPU-resident copies of the conditioning inputs the denoiser declares, when it runs on WebGPU
   * and `gpuResidentConditioning` is not false; undefined otherwise or after a failed upload.
   */
  private async uploadConditioning(
    model: OnnxModel,
    conditioning: Map<string, { data: Float32Array; dims: number[] }>,
  ): Promise<Map<string, OrtTensor> | undefined> {
    if (model.device !== 'webgpu' || this.options.gpuResidentConditioning === false || this.residentFailed) return undefined;
    const out = new Map<string, OrtTensor>();
    try {
      for (const [name, v] of conditioning) if (model.input(name)) out.set(name, await model.residentFloatTensor(name, v.data, v.dims));
      return out;
    } catch (error) {
      for (const tensor of out.values()) tensor.dispose();
      this.residentFailed = true;
      this.logger('warn', `conditioning stays on the host (GPU upload failed: ${(error as Error).message.split('\n')[0]})`);
      return undefined;
    }
  }

  private async runDenoiser(
    model: OnnxModel,
    sample: { data: Float32Array; dims: number[] },
    t: number,
    conditioning: Map<string, { data: Float32Array; dims: number[] }>,
    resident?: Map<string, OrtTensor>,
  ): Promise<Float32Array> {
    const batch = sample.dims[0]!;
    const feeds: Record<string, OrtTensor> = {
      [this.sampleInputName()]: model.floatTensor(this.sampleInputName(), sample.data, sample.dims),
      timestep: model.timestepTensor('timestep', t, batch),
    };
    for (const [name, v] of conditioning) if (model.input(name)) feeds[name] = resident?.get(name) ?? model.floatTensor(name, v.data, v.dims);
    const outName = model.outputs[0]!.name;
    const res = await model.run(feeds, [outName]);
    return res.get(outName)!.data;
  }

  /**
   * Decode latents [B, C, h, w] (denoiser space) with the VAE: `latents / scaling + shift`, then
   * the decoder. Returns the raw decoder output [B, 3, H, W] (values about [−1, 1]).
   */
  async decodeLatents(latents: Float32Array, dims: readonly number[]): Promise<Float32Array> {
    const scaled = new Float32Array(latents.length);
    for (let i = 0; i < latents.length; i++) scaled[i] = latents[i]! / this.vaeScalingFactor + this.vaeShiftFactor;
    const out = await this.vaeDecode(scaled, dims);
    await this.vae.done();
    return out;
  }

  /** Run the VAE decoder on already-scaled latents (no scaling), in slices when configured. */
  async vaeDecode(latentSample: Float32Array, dims: readonly number[]): Promise<Float32Array> {
    const model = await this.vae.get();
    const inName = model.input('latent_sample') ? 'latent_sample' : [...model.inputs.keys()][0]!;
    const outName = model.outputs[0]!.name;
    const batch = dims[0]!;
    const per = latentSample.length / batch;
    const slicing = this.options.vaeSlicing ?? this.options.memoryEfficient ?? false;
    if (!slicing || batch === 1) {
      return (await model.run({ [inName]: model.floatTensor(inName, latentSample, dims) }, [outName])).get(outName)!.data;
    }
    const parts: Float32Array[] = [];
    for (let b = 0; b < batch; b++) {
      const slice = latentSample.slice(b * per, (b + 1) * per);
      parts.push((await model.run({ [inName]: model.floatTensor(inName, slice, [1, ...dims.slice(1)]) }, [outName])).get(outName)!.data);
    }
    const out = new Float32Array(parts.reduce((s, p) => s + p.length, 0));
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }

  /** Release every ONNX session; the pipeline cannot be used afterwards. Idempotent. */
  async dispose(): Promise<void> {
    this.released = true;
    await this.releaseEncoders(true);
    await this.denoiserComponent().release();
    await this.vae.release();
  }

  /** @deprecated Use {@link dispose} (the name every package of this project uses). */
  async release(): Promise<void> {
    await this.dispose();
  }

  private negatives(count: number, negative: string | readonly string[] | undefined): (string | undefined)[] {
    if (negative === undefined) return new Array<undefined>(count).fill(undefined);
    if (typeof negative === 'string') return new Array<string>(count).fill(negative);
    if (negative.length !== count) {
      throw new SdError('SD_INVALID_ARGUMENT', `negativePrompt has ${negative.length} entries for ${count} prompts`);
    }
    return [...negative];
  }

  private resolveScheduler(spec: GenerateOptions['scheduler']): Scheduler {
    if (spec === undefined) return this.freshDefault();
    if (typeof spec === 'string' || ('name' in spec && !('step' in spec))) {
      return createScheduler(spec as string | SchedulerSpec, this.schedulerConfig);
    }
    return spec as Scheduler;
  }

  /** A fresh copy of the pipeline's scheduler (schedulers keep per-run state). */
  private freshDefault(): Scheduler {
    return createScheduler(this.schedulerSpec, this.schedulerConfig);
  }
}
