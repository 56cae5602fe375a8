/**
 * `createWebGpuPolicyEngine(wrapper, { adamW })`: the integration point the trainer imports
 * (apps/trainer `PolicyWebGpuModule`). It builds a {@link WebGpuPolicyEngine} from a loaded
 * @vlm-grpo/vlm `VLMWrapper` (its `model.rawConfig` and weights, read asynchronously by Hugging
 * Face name) and samples with the wrapper's tfjs generation after copying the engine's current
 * weights into the wrapper's variables (only when they changed since the last copy).
 */
import type { AdamWHyperParameters, PolicySampleOptions, PolicySampleResult } from '@vlm-grpo/grpo';
import { PolicyWebGpuError } from './errors.js';
import type { PolicyDevice } from './model-types.js';
import { WebGpuPolicyEngine } from './engine.js';

/** A tfjs variable, as far as this module uses it. */
interface VariableLike {
  readonly shape: number[];
  data(): Promise<ArrayLike<number>>;
  assign(value: unknown): void;
}

/** What {@link createWebGpuPolicyEngine} reads of a `VLMWrapper`. */
export interface WrapperLike {
  /** The wrapped causal LM (`VLMWrapper#model`). */
  model?: { rawConfig?: Record<string, unknown>; padTokenId?: number };
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
  const sampler = async (prompts: string[], sampleOptions: PolicySampleOptions | undefined, engine: WebGpuPolicyEngine): Promise<PolicySampleResult> => {
    if (engine.weightsVersion !== copiedVersion) {
      const tf = await import('@tensorflow/tfjs');
      const current = await engine.getWeights();
      names.forEach((name, i) => {
        const w = current.get(name)!;
        const tensor = tf.tensor(w.data, w.shape);
        variables[i]!.assign(tensor);
        tensor.dispose();
      });
      copiedVersion = engine.weightsVersion;
    }
    return wrapper.sample(prompts, sampleOptions);
  };
  const engine = await WebGpuPolicyEngine.fromWeights(rawConfig, weights, {
    adamW: options.adamW,
    sampler,
    ...(options.context ? { context: options.context } : {}),
    ...(wrapper.model?.padTokenId !== undefined ? { padTokenId: wrapper.model.padTokenId } : {}),
  });
  options.logger?.(`policy-webgpu: ${engine.config.architecture}, ${engine.layout.entries.length} tensors on ${engine.context.adapterInfo || 'WebGPU'}`);
  return engine;
}
