/**
 * Loading of the real models behind the {@link SystemComponents} ports, each package imported
 * lazily through its public entry point and adapted:
 * - policy: `VLMWrapper.fromPretrained` (@vlm-grpo/vlm) on the tfjs backend of
 *   `model_settings.policy_tfjs_backend` (`auto` follows `device`: webgpu → webgpu, else the
 *   package's own fastest-that-initialises order), templates from `generation_settings`, behind
 *   the policy engine of `model_settings.policy_backend` (`policy-engine.ts`: tfjs or the fused
 *   WebGPU engine); a policy too large to train within the WASM backend's 4 GiB is reloaded on
 *   tfjs's cpu backend (`auto`) or refused (`wasm`) before training (`wasm-fit.ts`);
 * - renderer: `DiffusionPipeline.fromPretrained` (@vlm-grpo/sd), one image per (prompt, seed),
 *   images with NaN/Inf latents or pixels reported as failed items;
 * - image rewards: `CLIPRewardCalculator.fromPretrained` (@vlm-grpo/clip-reward) and, with
 *   `reward_settings.safety.weight` > 0, the diffusion folder's `SafetyChecker` (@vlm-grpo/sd), components
 *   scored against the original prompt (relevance) and the rewrite (similarity).
 * A requested device that does not initialise falls back to CPU inside each package; the fallback
 * reasons reach this logger as WARNING lines.
 */
import type { TrainerConfig } from '../config/config-schema.js';
import { TrainerError } from '../errors.js';
import type { Logger } from '../runtime/logger.js';
import { createPolicyEngine, type PolicyWrapperLike } from './policy-engine.js';
import { planWasmTraining } from './wasm-fit.js';
import type {
  ComponentScope,
  ImageRenderer,
  ImageRewardModel,
  RenderedImage,
  RewardComponents,
  SystemComponents,
  TrainablePolicy,
} from './ports.js';
import { IMAGE_REWARD_NAMES } from './ports.js';

/** What the trainer uses of @vlm-grpo/vlm's `VLMWrapper`. */
type VlmWrapperLike = PolicyWrapperLike;

interface VlmModule {
  initBackend?: (name: string) => Promise<{ decision?: { detail: string } }>;
  estimateWasmTrainingBytes?: (numParameters: number, options: { reference: boolean; sequences: number; completionTokens: number; vocabSize: number }) => number;
  WASM_MEMORY_LIMIT_BYTES?: number;
  VLMWrapper?: { fromPretrained(path: string, options: Record<string, unknown>): Promise<VlmWrapperLike> };
}

interface SdImageLike extends RenderedImage {
  quality?: { ok: boolean; issues: string[] };
}

interface SdPipelineLike {
  generateImage(prompt: string, options: Record<string, unknown>): Promise<SdImageLike>;
  dispose?(): Promise<void>;
}

/** What the trainer uses of @vlm-grpo/sd's `SafetyChecker`. */
export interface SafetyCheckerLike {
  check(images: Array<{ data: Uint8Array; width: number; height: number; channels?: 1 | 3 | 4 }>): Promise<Array<{ flagged: boolean; score: number }>>;
  dispose?(): Promise<void>;
}

interface SdModule {
  DiffusionPipeline?: { fromPretrained(path: string, options: Record<string, unknown>): Promise<SdPipelineLike> };
  SafetyChecker?: { fromPretrained(path: string, options: Record<string, unknown>): Promise<SafetyCheckerLike | undefined> };
}

interface ClipResultLike {
  total: number;
  /** Component values before normalisation (the trainer normalises and weights itself). */
  raw: Record<string, number | undefined>;
}

interface ClipCalculatorLike {
  readonly device?: string;
  calculateRewards(
    images: Array<{ data: Uint8Array; width: number; height: number; channels?: 1 | 3 | 4 }>,
    texts: string[],
    options?: { originalPrompts?: string[]; updateNormalization?: boolean },
  ): Promise<ClipResultLike[]>;
  dispose?(): Promise<void> | void;
}

interface ClipModule {
  CLIPRewardCalculator?: { fromPretrained(path: string, options: Record<string, unknown>): Promise<ClipCalculatorLike> };
}

function missing(pkg: string, name: string): TrainerError {
  return new TrainerError('TRAINER_COMPONENT_FAILED', `${pkg} does not export ${name}; update the workspace packages (npm install at the root)`);
}

/** Adapt a diffusion pipeline to the renderer port (one image per prompt and seed). */
export function adaptRenderer(pipeline: SdPipelineLike, config: TrainerConfig): ImageRenderer {
  const d = config.diffusion_settings;
  return {
    async render(prompts, { seeds, signal }) {
      const out: Array<RenderedImage | Error> = [];
      for (let index = 0; index < prompts.length; index++) {
        try {
          const image = await pipeline.generateImage(prompts[index]!, {
            seed: seeds[index],
            steps: d.steps,
            guidanceScale: d.guidance_scale,
            height: d.height,
            width: d.width,
            ...(d.guidance_scale > 1 ? { negativePrompt: d.negative_prompt } : {}),
            ...(signal ? { signal } : {}),
          });
          const broken = (image.quality?.issues ?? []).filter((issue) => /nan|inf/u.test(issue));
          out.push(broken.length > 0 ? new Error(`image rejected (${broken.join(', ')})`) : { width: image.width, height: image.height, data: image.data, channels: 3 });
        } catch (error) {
          if (signal?.aborted) throw error;
          out.push(error instanceof Error ? error : new Error(String(error)));
        }
      }
      return out;
    },
  };
}

/** Map the calculator's component names (camelCase or snake_case) to the trainer's. */
function componentValue(components: Record<string, number | undefined>, name: string): number | undefined {
  const camel = name.replace(/_(\w)/gu, (_, letter: string) => letter.toUpperCase());
  return components[name] ?? components[camel];
}

/**
 * Adapt a CLIP reward calculator (and the diffusion model's safety checker, when given) to the
 * image reward port: `safety` is 1 for an image the checker passes and 0 for a flagged one. A call
 * that throws is retried image by image, so one bad item (e.g. an empty text) fails alone.
 */
export function adaptImageRewards(calculator: ClipCalculatorLike, safety?: SafetyCheckerLike): ImageRewardModel {
  const score = async (images: RenderedImage[], originals: string[], prompts: string[]): Promise<RewardComponents[]> => {
    const pixels = images.map((image) => ({ data: image.data, width: image.width, height: image.height, channels: image.channels ?? 3 }));
    const results = await calculator.calculateRewards(pixels, prompts, { originalPrompts: originals, updateNormalization: false });
    const checked = safety ? await safety.check(pixels) : undefined;
    return results.map((result, index) => {
      const row: RewardComponents = {};
      for (const name of IMAGE_REWARD_NAMES) {
        const value = componentValue(result.raw, name);
        if (typeof value === 'number') row[name] = value;
      }
      if (checked) row.safety = checked[index]!.flagged ? 0 : 1;
      return row;
    });
  };
  return {
    async components(images, originals, prompts) {
      try {
        return await score(images, originals, prompts);
      } catch (error) {
        if (images.length === 1) return [error instanceof Error ? error : new Error(String(error))];
        return Promise.all(
          images.map((image, index) =>
            score([image], [originals[index]!], [prompts[index]!]).then(
              (rows) => rows[0]!,
              (reason: unknown) => (reason instanceof Error ? reason : new Error(String(reason))),
            ),
          ),
        );
      }
    },
  };
}

/** Load the policy, diffusion pipeline and CLIP reward named in the configuration. */
export async function loadComponents(config: TrainerConfig, logger: Logger, scope: ComponentScope = 'all'): Promise<SystemComponents> {
  const m = config.model_settings;
  const device = m.device;
  const hub = { localFilesOnly: m.local_files_only, ...(m.cache_dir === null ? {} : { cacheDir: m.cache_dir }) };
  const backend = m.policy_tfjs_backend !== 'auto' ? m.policy_tfjs_backend : device === 'webgpu' ? 'webgpu' : device === 'cpu' ? 'auto' : 'auto';

  logger.info(`loading the policy ${m.vlm_model} (tfjs backend ${backend})`);
  const vlm = (await import('@vlm-grpo/vlm')) as unknown as VlmModule;
  if (!vlm.VLMWrapper) throw missing('@vlm-grpo/vlm', 'VLMWrapper');
  const template = config.generation_settings.prompt_template;
  const tf = await import('@tensorflow/tfjs');
  const loadPolicy = async (tfjsBackend: string): Promise<{ policy: TrainablePolicy; engine: string; reason: string; wrapper: VlmWrapperLike }> => {
    let wrapper: VlmWrapperLike;
    try {
      wrapper = await vlm.VLMWrapper!.fromPretrained(m.vlm_model, {
        ...hub,
        backend: tfjsBackend,
        ...(template === null ? {} : { promptFormat: 'plain', plainTemplate: template }),
        logger: (message: string) => logger.info(`policy: ${message.replace(/^\[vlm\] (backend: )?/u, '')}`),
      });
    } catch (error) {
      throw new TrainerError('TRAINER_COMPONENT_FAILED', `could not load the policy ${m.vlm_model}: ${(error as Error).message}`, { cause: error });
    }
    // The backend decision's full reasons (initBackend returns the first call's report for the same name).
    const backendReport = await vlm.initBackend?.(tfjsBackend).catch(() => undefined);
    if (backendReport?.decision) logger.debug(backendReport.decision.detail);
    try {
      const choice = await createPolicyEngine(wrapper, config, logger, { trainable: scope !== 'policy' });
      return { policy: choice.policy, engine: choice.backend, reason: choice.reason, wrapper };
    } catch (error) {
      wrapper.dispose();
      throw error;
    }
  };
  let loaded = await loadPolicy(backend);
  // The WASM backend holds 4 GiB: a policy too large to train there moves to tfjs's cpu backend
  // (auto) or is refused before training (explicit wasm); see wasm-fit.ts.
  if (scope !== 'policy' && loaded.engine === 'tfjs' && vlm.estimateWasmTrainingBytes && vlm.WASM_MEMORY_LIMIT_BYTES) {
    const plan = planWasmTraining({
      activeBackend: tf.getBackend() ?? 'unknown',
      requested: m.policy_tfjs_backend,
      numParameters: loaded.wrapper.trainableVariables().reduce((n, variable) => n + variable.size, 0),
      reference: config.training_settings.beta !== 0,
      sequences: Math.ceil((config.training_settings.batch_size * config.training_settings.num_generations) / config.training_settings.gradient_accumulation_steps),
      completionTokens: config.generation_settings.max_new_tokens,
      vocabSize: vocabSizeOf(loaded.wrapper),
      estimate: vlm.estimateWasmTrainingBytes,
      limit: vlm.WASM_MEMORY_LIMIT_BYTES,
    });
    if (plan.action !== 'keep') {
      loaded.policy.dispose();
      if (plan.action === 'refuse') {
        throw new TrainerError(
          'TRAINER_COMPONENT_FAILED',
          `model_settings.policy_tfjs_backend ${m.policy_tfjs_backend}: ${plan.reason}; use policy_tfjs_backend cpu (no such limit, slower), a GPU (--device webgpu), or a smaller policy`,
        );
      }
      logger.info(`policy: moving to the tfjs cpu backend: ${plan.reason} (the cpu backend has no such limit and is slower; a GPU: --device webgpu)`);
      loaded = await loadPolicy('cpu');
    }
  }
  const policy = loaded.policy;
  // With the fused engine, training runs on WebGPU and the wrapper's tfjs backend serves enhancement.
  const tfjsDevice = tf.getBackend() ?? 'unknown';
  const policyDevice = loaded.engine === 'webgpu' && scope !== 'policy' ? `webgpu engine (enhancement on tfjs ${tfjsDevice})` : tfjsDevice;
  if (scope !== 'policy') logger.info(`policy engine: ${loaded.engine}${m.policy_backend === 'auto' ? ' (auto)' : ''}`);
  logger.debug(`policy engine: ${loaded.engine} (${loaded.reason})`);
  if (scope === 'policy') {
    return {
      policy,
      renderer: undefined,
      imageRewards: undefined,
      devices: { policy: policyDevice, diffusion: 'not loaded', clip: 'not loaded' },
      async dispose() {
        policy.dispose();
      },
    };
  }

  let models: RewardModels;
  try {
    models = await loadRewardModels(config, logger);
  } catch (error) {
    policy.dispose();
    throw error;
  }
  return {
    policy,
    renderer: models.renderer,
    imageRewards: models.imageRewards,
    devices: { policy: policyDevice, diffusion: models.devices.diffusion, clip: models.devices.clip },
    async dispose() {
      policy.dispose();
      await models.dispose();
    },
  };
}

/** The diffusion renderer and CLIP image rewards, without a policy (what a rollout worker loads). */
export interface RewardModels {
  renderer: ImageRenderer;
  imageRewards: ImageRewardModel;
  /** Where each runs, after device fallbacks. */
  devices: { diffusion: string; clip: string };
  /** Release both. */
  dispose(): Promise<void>;
}

/** Load the diffusion pipeline and the CLIP reward named in the configuration. */
export async function loadRewardModels(config: TrainerConfig, logger: Logger): Promise<RewardModels> {
  const m = config.model_settings;
  const device = m.device;
  const hub = { localFilesOnly: m.local_files_only, ...(m.cache_dir === null ? {} : { cacheDir: m.cache_dir }) };
  // The pipeline reports the device each session really uses when it differs from the request.
  // One INFO line for the device decision (the first component's; another component that lands
  // elsewhere is a WARNING), every reason at DEBUG.
  let diffusionDevice: string = device;
  let decided = false;
  const sdLogger = (level: 'info' | 'warn', message: string) => {
    const used = /^\w+: using (\w+)/u.exec(message);
    if (used) diffusionDevice = used[1]!;
    const decision = /^diffusion (\S+): (\w+) \((.*)\)$/u.exec(message);
    if (decision) {
      if (!decided) logger.info(`diffusion: ${decision[2]} (${decision[3]})`);
      else if (decision[2] !== diffusionDevice) logger.warning(`diffusion ${decision[1]}: ${decision[2]} (${decision[3]}), unlike the other components (${diffusionDevice})`);
      else logger.debug(message);
      if (!decided) diffusionDevice = decision[2]!;
      decided = true;
      return;
    }
    if (level === 'warn') logger.warning(`diffusion: ${message}`);
    // A hub id resolved to its ONNX export (runwayml/stable-diffusion-v1-5 → …-ONNX) is worth one INFO line,
    // and so is a rewritten copy of a graph written to disk beside the model (once; reuses are DEBUG).
    else if (/ONNX export|running the copy written in/u.test(message)) logger.info(`diffusion: ${message}`);
    else logger.debug(`diffusion: ${message}`);
  };
  logger.info(`loading the diffusion model ${m.sd_model} (device ${device})`);
  const sd = (await import('@vlm-grpo/sd')) as unknown as SdModule;
  if (!sd.DiffusionPipeline) throw missing('@vlm-grpo/sd', 'DiffusionPipeline');
  let pipeline: SdPipelineLike;
  try {
    pipeline = await sd.DiffusionPipeline.fromPretrained(m.sd_model, {
      ...hub,
      device,
      memoryEfficient: m.memory_efficient,
      validation: 'report',
      logger: sdLogger,
      ...(config.diffusion_settings.scheduler === null ? {} : { scheduler: config.diffusion_settings.scheduler }),
    });
  } catch (error) {
    throw new TrainerError('TRAINER_COMPONENT_FAILED', `could not load the diffusion model ${m.sd_model}: ${(error as Error).message}`, { cause: error });
  }

  logger.info(`loading CLIP ${m.clip_model} (device ${device})`);
  const clip = (await import('@vlm-grpo/clip-reward')) as unknown as ClipModule;
  if (!clip.CLIPRewardCalculator) {
    await pipeline.dispose?.();
    throw missing('@vlm-grpo/clip-reward', 'CLIPRewardCalculator');
  }
  const r = config.reward_settings;
  let calculator: ClipCalculatorLike;
  try {
    // Every component at weight 1 and unnormalised: the trainer weights them through GRPO's
    // reward weights and normalises them itself (running z-score), so each is logged on its own.
    const on = (weight: number) => weight > 0;
    calculator = await clip.CLIPRewardCalculator.fromPretrained(m.clip_model, {
      ...hub,
      device,
      dtype: m.dtype,
      // `clip: <device> (…)` is the decision line (INFO); `details: …` carries every reason (DEBUG).
      logger: (message: string) => (message.startsWith('details: ') ? logger.debug(message.slice('details: '.length)) : logger.info(message.startsWith('clip: ') ? message : `clip: ${message}`)),
      rewards: {
        similarity: on(r.similarity.weight) ? { weight: 1, mode: r.similarity.mode === 'clip_score' ? 'clipScore' : 'cosine' } : false,
        relevanceToOriginal: on(r.relevance_to_original.weight) ? { weight: 1, mode: r.relevance_to_original.promptist_gate ? 'promptistGate' : r.similarity.mode === 'clip_score' ? 'clipScore' : 'cosine' } : false,
        consistency: on(r.consistency.weight) ? { weight: 1 } : false,
        quality: on(r.quality.weight) ? { weight: 1 } : false,
        aesthetic: on(r.aesthetic.weight) && r.aesthetic.head_path !== null ? { weight: 1, head: r.aesthetic.head_path } : false,
      },
    });
  } catch (error) {
    await pipeline.dispose?.();
    throw new TrainerError('TRAINER_COMPONENT_FAILED', `could not load CLIP ${m.clip_model}: ${(error as Error).message}`, { cause: error });
  }
  let safety: SafetyCheckerLike | undefined;
  if (r.safety.weight > 0) {
    try {
      safety = await sd.SafetyChecker?.fromPretrained(m.sd_model, {
        ...hub,
        device,
        threshold: r.safety.threshold,
        logger: (level: 'info' | 'warn', message: string) => (level === 'warn' ? logger.warning(`safety: ${message}`) : logger.debug(`safety: ${message}`)),
      });
    } catch (error) {
      await pipeline.dispose?.();
      await calculator.dispose?.();
      throw new TrainerError('TRAINER_COMPONENT_FAILED', `could not load the safety checker of ${m.sd_model}: ${(error as Error).message}`, { cause: error });
    }
    if (safety === undefined) {
      logger.info(`safety: ${m.sd_model} has no safety_checker/model.onnx; the safety reward is off`);
      // The run's effective configuration records that the component is off.
      r.safety.weight = 0;
    } else {
      logger.info(`safety: ${m.sd_model}'s safety checker scores every image (weight ${r.safety.weight}, threshold ${r.safety.threshold})`);
    }
  }
  return {
    renderer: adaptRenderer(pipeline, config),
    imageRewards: adaptImageRewards(calculator, safety),
    devices: { diffusion: diffusionDevice, clip: calculator.device ?? device },
    async dispose() {
      await pipeline.dispose?.();
      await calculator.dispose?.();
      await safety?.dispose?.();
    },
  };
}

/** The vocabulary size of a VLMWrapper's model (`model.config.vocabSize`), or 0 for a policy that does not say. */
function vocabSizeOf(wrapper: object): number {
  const size = (wrapper as { model?: { config?: { vocabSize?: unknown } } }).model?.config?.vocabSize;
  return typeof size === 'number' && Number.isFinite(size) ? size : 0;
}
