/**
 * `createWebGpuPolicyEngine(wrapper, { adamW })`: the integration point the trainer imports
 * (apps/trainer `PolicyWebGpuModule`). It builds a {@link WebGpuPolicyEngine} from a loaded
 * @vlm-grpo/vlm `VLMWrapper` (its `model.rawConfig` and weights, read asynchronously by Hugging
 * Face name) and gives it a `sample` that keeps the wrapper's text handling (prompt template,
 * completion prefix, context fitting, EOS and stop strings, decoding, post-processing) and
 * generates on the GPU: the wrapper's own `sample` runs on a view of the wrapper whose model's
 * `generate` is the engine's `generate` (same contract as `CausalLM.generate`), so nothing of the
 * wrapper is modified and no weights are copied. Where the engine reports `WEBGPU_UNSUPPORTED`
 * for a batch (a buffer over the adapter's binding limit), or with `generation: 'tfjs'`, the
 * wrapper's tfjs generation runs instead, after copying the engine's current weights into the
 * wrapper's variables (only when they changed since the last copy); the logger says so (once per
 * reason).
 */
import type { AdamWHyperParameters, PolicySampleOptions, PolicySampleResult } from '@vlm-grpo/grpo';
import { PolicyWebGpuError } from './errors.js';
import type { GpuGenerateOptions, GpuGenerateOutput } from './generate-types.js';
import type { EnginePrecision, EngineRecompute, PolicyDevice } from './model-types.js';
import { WebGpuPolicyEngine } from './engine.js';

/** A tfjs variable, as far as this module uses it. */
interface VariableLike {
  readonly shape: number[];
  data(): Promise<ArrayLike<number>>;
  assign(value: unknown): void;
}

/** What {@link createWebGpuPolicyEngine} reads of a `VLMWrapper`. */
export interface WrapperLike {
  /** The wrapped causal LM (`VLMWrapper#model`); `sample` must generate through its `generate`. */
  model?: { rawConfig?: Record<string, unknown>; padTokenId?: number; generate?(inputIds: number[][], options?: GpuGenerateOptions): Promise<GpuGenerateOutput> };
  /** Hugging Face names of `trainableVariables()`, in the same order. */
  parameterNames?(): string[];
  /** The tfjs variables. */
  trainableVariables(): unknown[];
  /** tfjs generation. */
  sample(prompts: string[], options?: PolicySampleOptions): Promise<PolicySampleResult>;
}

/** Options of {@link createWebGpuPolicyEngine}. */
export interface CreateWebGpuPolicyEngineOptions {
  /** AdamW hyper-parameters (defaults: `torch.optim.AdamW`, weight decay 0). */
  adamW: AdamWHyperParameters;
  /** Progress lines (default: none). */
  logger?: (message: string) => void;
  /** Device to use (default: a new one). */
  context?: PolicyDevice;
  /**
   * Where `sample` generates: `webgpu` (the engine's KV-cache decoding and on-GPU sampling) or
   * `tfjs` (the wrapper's generation, after copying the weights into it) (default: `webgpu`).
   */
  generation?: 'webgpu' | 'tfjs';
  /**
   * Training arithmetic: `fp32`, or `f16` mixed precision (needs `shader-f16`, else
   * `WEBGPU_UNSUPPORTED`); see `WebGpuPolicyEngineOptions.precision` (default: `fp32`).
   */
  precision?: EnginePrecision;
  /** Activation recomputation, `none` or `layer`; see `WebGpuPolicyEngineOptions.recompute` (default: `none`). */
  recompute?: EngineRecompute;
}

/** Build the fused engine from a loaded wrapper (see the file header). Throws, saying why, for what it cannot run. */
export async function createWebGpuPolicyEngine(wrapper: WrapperLike, options: CreateWebGpuPolicyEngineOptions): Promise<WebGpuPolicyEngine> {
  const rawConfig = wrapper.model?.rawConfig;
  if (!rawConfig) throw new PolicyWebGpuError('WEBGPU_UNSUPPORTED', 'createWebGpuPolicyEngine: the wrapper has no model.rawConfig (expected a @vlm-grpo/vlm VLMWrapper)');
  const variables = wrapper.trainableVariables() as VariableLike[];
  const names = wrapper.parameterNames?.();
  if (!names || names.length !== variables.length) {
    throw new PolicyWebGpuError('WEBGPU_UNSUPPORTED', 'createWebGpuPolicyEngine: the wrapper must name its trainable variables (parameterNames(), Hugging Face tensor names)');
  }
  const weights = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  const values = await Promise.all(variables.map((v) => v.data()));
  names.forEach((name, i) => weights.set(name, { shape: variables[i]!.shape, data: Float32Array.from(values[i]!) }));
  let copiedVersion = 0;
  /** Copy the engine's weights into the wrapper's variables when they changed since the last copy. */
  const copyWeights = async (engine: WebGpuPolicyEngine): Promise<void> => {
    if (engine.weightsVersion === copiedVersion) return;
    const tf = await import('@tensorflow/tfjs');
    const current = await engine.getWeights();
    names.forEach((name, i) => {
      const w = current.get(name)!;
      const tensor = tf.tensor(w.data, w.shape);
      variables[i]!.assign(tensor);
      tensor.dispose();
    });
    copiedVersion = engine.weightsVersion;
  };
  const reported = new Set<string>();
  const note = (line: string) => {
    if (reported.has(line)) return;
    reported.add(line);
    options.logger?.(line);
  };
  const model = wrapper.model;
  const tfjsGenerate = model?.generate;
  const generation = options.generation ?? 'webgpu';
  const sampler = async (prompts: string[], sampleOptions: PolicySampleOptions | undefined, engine: WebGpuPolicyEngine): Promise<PolicySampleResult> => {
    if (generation === 'tfjs' || !model || !tfjsGenerate) {
      note(`policy-webgpu: sample generates with tfjs (${generation === 'tfjs' ? "generation: 'tfjs'" : 'the wrapper has no model.generate'}), after copying the engine's weights into the wrapper`);
      await copyWeights(engine);
      return wrapper.sample(prompts, sampleOptions);
    }
    const generate = async (inputIds: number[][], generateOptions?: GpuGenerateOptions): Promise<GpuGenerateOutput> => {
      try {
        return await engine.generate(inputIds, generateOptions);
      } catch (error) {
        if (!(PolicyWebGpuError.isInstance(error) && error.code === 'WEBGPU_UNSUPPORTED')) throw error;
        note(`policy-webgpu: GPU generation cannot run this batch (${error.message}); it generates with tfjs instead, after copying the engine's weights into the wrapper`);
        await copyWeights(engine);
        return tfjsGenerate.call(model, inputIds, generateOptions);
      }
    };
    // A view of the wrapper whose model generates on the GPU; everything else is the wrapper's.
    const view = Object.create(wrapper, { model: { value: Object.create(model, { generate: { value: generate } }) } }) as WrapperLike;
    // VLMWrapper counts prompts cut to the context in a field of its own: keep counting there.
    const counted = wrapper as unknown as { truncatedCount?: unknown };
    if (typeof counted.truncatedCount === 'number') {
      Object.defineProperty(view, 'truncatedCount', { get: () => counted.truncatedCount, set: (value: unknown) => (counted.truncatedCount = value) });
    }
    return wrapper.sample.call(view, prompts, sampleOptions);
  };
  const engine = await WebGpuPolicyEngine.fromWeights(rawConfig, weights, {
    adamW: options.adamW,
    sampler,
    ...(options.precision ? { precision: options.precision } : {}),
    ...(options.recompute ? { recompute: options.recompute } : {}),
    ...(options.context ? { context: options.context } : {}),
    ...(wrapper.model?.padTokenId !== undefined ? { padTokenId: wrapper.model.padTokenId } : {}),
  });
  options.logger?.(
    `policy-webgpu: ${engine.config.architecture}, ${engine.layout.entries.length} tensors on ${engine.context.adapterInfo || 'WebGPU'}; precision ${engine.precision}, recompute ${engine.recompute}; sample generates ${generation === 'tfjs' ? 'with tfjs' : 'on the GPU (KV cache, on-GPU sampling)'}`,
  );
  return engine;
}
