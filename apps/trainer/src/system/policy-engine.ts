/**
 * The policy engine behind `model_settings.policy_backend`: what samples, computes log-probs,
 * runs backward and steps AdamW for @vlm-grpo/grpo's trainer (its `PolicyEngine` port).
 *
 * - `tfjs`: @vlm-grpo/vlm's `TfjsPolicyEngine` over the loaded `VLMWrapper`, on the TensorFlow.js
 *   backend of `model_settings.policy_tfjs_backend`. Its weights are the wrapper's.
 * - `webgpu`: the fused WebGPU engine of @vlm-grpo/policy-webgpu, imported lazily (an optional
 *   package). Integration point: that package exports {@link PolicyWebGpuModule}'s
 *   `createWebGpuPolicyEngine(wrapper, { adamW })`, which builds the engine from the loaded wrapper
 *   (config, weights, tokenizer, template) and throws, saying why, for a model or adapter it does
 *   not support. An explicit `webgpu` takes whatever adapter exists (software adapters included:
 *   that is how CI tests WebGPU code) and fails with the reason when the package is missing or
 *   refuses the model.
 * - `auto`: `webgpu` only on a hardware WebGPU adapter (@vlm-grpo/device's probe: lavapipe and
 *   other software adapters are never taken) and only when the package provides the engine and
 *   accepts the model; else `tfjs`. One INFO line states the decision; the reasons go to DEBUG.
 * - `training_settings.mixed_precision` (`fp16` → the engine's `precision: 'f16'`) and
 *   `gradient_checkpointing` (→ `recompute: 'layer'`) reach the webgpu engine
 *   ({@link webgpuEngineOptions}); an adapter without shader-f16 makes it refuse `fp16` (an error
 *   with `webgpu`, tfjs with `auto`). The tfjs engine has neither: it trains in fp32 and keeps its
 *   activations, and says so in one INFO line when they are set.
 *
 * The wrapper also serves validation (`enhancePrompts`, tfjs generation) and checkpoints (`save`,
 * Hugging Face safetensors). With an engine that keeps its own weights (webgpu), they are copied
 * into the wrapper, by Hugging Face tensor name, before either runs after an update.
 */
import type { AdamWHyperParameters, LogProbOptions, OptimizerStateData, OptimizerStepOptions, PerTokenResult, PolicyEngine, PolicySampleOptions, PolicySampleResult, TokenBatch } from '@vlm-grpo/grpo';
import type * as tfType from '@tensorflow/tfjs';

import type { TrainerConfig } from '../config/config-schema.js';
import { TrainerError } from '../errors.js';
import type { Logger } from '../runtime/logger.js';
import type { EnhanceOptions, EnhancedPrompt, TrainablePolicy } from './ports.js';

/** What the engines and the trainer use of @vlm-grpo/vlm's `VLMWrapper` (a tfjs policy). */
export interface PolicyWrapperLike {
  sample(prompts: string[], options?: PolicySampleOptions): Promise<PolicySampleResult>;
  sequenceLogProbs(promptIds: number[][], completionIds: number[][], options?: LogProbOptions): { logProbs: tfType.Tensor2D; entropy?: tfType.Tensor2D };
  trainableVariables(): tfType.Variable[];
  parameterNames?(): string[];
  clone(): Promise<PolicyWrapperLike>;
  dispose(): void;
  save(directory: string): Promise<void>;
  enhancePromptsDetailed(
    prompts: string[],
    options?: { maxNewTokens?: number; temperature?: number; seed?: number; categories?: (string | undefined)[] },
  ): Promise<Array<{ text: string; source: 'model' | 'rules' | 'original'; failure: { reason: string; detail: string } | null }>>;
}

/** What the trainer expects of @vlm-grpo/policy-webgpu (the integration point of the fused engine). */
export interface PolicyWebGpuModule {
  /**
   * Build the engine from a loaded `VLMWrapper` (architecture and weights from its model, sampling
   * with its tokenizer and template), AdamW with `adamW`. Throws, naming the reason, for a model,
   * dtype or adapter the engine does not support.
   */
  createWebGpuPolicyEngine?(
    wrapper: PolicyWrapperLike,
    options: { adamW: AdamWHyperParameters; logger?: (message: string) => void; precision?: 'fp32' | 'f16'; recompute?: 'none' | 'layer' },
  ): Promise<PolicyEngine>;
}

/** The engine chosen for a run and why. */
export interface PolicyEngineChoice {
  /** `tfjs` or `webgpu`. */
  backend: 'tfjs' | 'webgpu';
  /** The trainer's policy: the engine plus the wrapper's enhancement and saving. */
  policy: TrainablePolicy;
  /** Why (one line). */
  reason: string;
}

/** AdamW hyper-parameters of `training_settings` (engines take them at creation). */
export function adamWFromConfig(config: TrainerConfig): AdamWHyperParameters {
  const t = config.training_settings;
  return { beta1: t.adam_beta1, beta2: t.adam_beta2, epsilon: t.adam_epsilon, weightDecay: t.weight_decay };
}

/** The webgpu engine's options of `training_settings`: mixed_precision fp16 → precision f16, gradient_checkpointing → recompute layer. */
export function webgpuEngineOptions(config: TrainerConfig): { precision: 'fp32' | 'f16'; recompute: 'none' | 'layer' } {
  const t = config.training_settings;
  return { precision: t.mixed_precision === 'fp16' ? 'f16' : 'fp32', recompute: t.gradient_checkpointing ? 'layer' : 'none' };
}

/** Import @vlm-grpo/policy-webgpu and build its engine, or say why not. */
async function webgpuEngine(wrapper: PolicyWrapperLike, adamW: AdamWHyperParameters, config: TrainerConfig, logger: Logger): Promise<{ engine: PolicyEngine } | { reason: string }> {
  let module: PolicyWebGpuModule;
  try {
    module = (await import('@vlm-grpo/policy-webgpu' as string)) as PolicyWebGpuModule;
  } catch (error) {
    return { reason: `@vlm-grpo/policy-webgpu is not installed (npm install @vlm-grpo/policy-webgpu): ${(error as Error).message.split('\n')[0]}` };
  }
  if (typeof module.createWebGpuPolicyEngine !== 'function') {
    return { reason: '@vlm-grpo/policy-webgpu does not provide createWebGpuPolicyEngine yet (this version has no training engine)' };
  }
  try {
    return { engine: await module.createWebGpuPolicyEngine(wrapper, { adamW, ...webgpuEngineOptions(config), logger: (message) => logger.debug(`policy-webgpu: ${message}`) }) };
  } catch (error) {
    return { reason: `@vlm-grpo/policy-webgpu refused the model: ${(error as Error).message.split('\n')[0]}` };
  }
}

/**
 * Build the engine `model_settings.policy_backend` asks for (see the file header). With
 * `trainable: false` (enhancement only: `enhance`) the tfjs engine wraps the model without probing
 * anything (its optimizer state is never allocated).
 */
export async function createPolicyEngine(
  wrapper: PolicyWrapperLike,
  config: TrainerConfig,
  logger: Logger,
  options: { trainable?: boolean } = {},
): Promise<PolicyEngineChoice> {
  const requested = options.trainable === false ? 'tfjs' : config.model_settings.policy_backend;
  const adamW = adamWFromConfig(config);
  const tfjs = async (reason: string): Promise<PolicyEngineChoice> => {
    const t = config.training_settings;
    if (options.trainable !== false && (t.mixed_precision !== 'no' || t.gradient_checkpointing)) {
      logger.info('training_settings.mixed_precision and gradient_checkpointing apply to the webgpu policy engine only: the tfjs engine trains in fp32 and keeps its activations');
    }
    const vlm = (await import('@vlm-grpo/vlm')) as unknown as { TfjsPolicyEngine?: new (policy: PolicyWrapperLike, options: AdamWHyperParameters) => PolicyEngine };
    if (!vlm.TfjsPolicyEngine) throw new TrainerError('TRAINER_COMPONENT_FAILED', '@vlm-grpo/vlm does not export TfjsPolicyEngine; update the workspace packages (npm install at the root)');
    return { backend: 'tfjs', policy: engineBackedPolicy(new vlm.TfjsPolicyEngine(wrapper, adamW), wrapper, { sharesWeights: true }), reason };
  };
  if (requested === 'tfjs') return tfjs(options.trainable === false ? 'enhancement only' : 'policy_backend tfjs');
  if (requested === 'webgpu') {
    const built = await webgpuEngine(wrapper, adamW, config, logger);
    if ('reason' in built) throw new TrainerError('TRAINER_COMPONENT_FAILED', `model_settings.policy_backend webgpu: ${built.reason}; use policy_backend tfjs or auto`);
    return { backend: 'webgpu', policy: engineBackedPolicy(built.engine, wrapper, { sharesWeights: false }), reason: 'policy_backend webgpu' };
  }
  const { probeWebgpuAdapter, describeWebgpuProbe } = await import('@vlm-grpo/device');
  const probe = await probeWebgpuAdapter();
  if (probe.status !== 'hardware') return tfjs(`auto: no hardware WebGPU adapter (${describeWebgpuProbe(probe)})`);
  const built = await webgpuEngine(wrapper, adamW, config, logger);
  if ('reason' in built) return tfjs(`auto: ${built.reason}`);
  return { backend: 'webgpu', policy: engineBackedPolicy(built.engine, wrapper, { sharesWeights: false }), reason: `auto: ${describeWebgpuProbe(probe)}` };
}

/**
 * The trainer's policy port from an engine and the wrapper it was built from: the engine for
 * GRPO, the wrapper for enhancement and saving. `sharesWeights`: the engine trains the wrapper's own
 * variables (tfjs); otherwise the engine's weights are copied into the wrapper, by parameter name,
 * before enhancing or saving after an update. `dispose` frees the engine, then the wrapper.
 */
export function engineBackedPolicy(engine: PolicyEngine, wrapper: PolicyWrapperLike, options: { sharesWeights: boolean }): TrainablePolicy {
  let stale = false;
  let disposed = false;
  const changed = <T>(result: Promise<T>): Promise<T> => {
    if (!options.sharesWeights) stale = true;
    return result;
  };
  const refresh = async (): Promise<void> => {
    if (!stale) return;
    await copyWeightsInto(wrapper, await engine.getOptimizerState());
    stale = false;
  };
  return {
    sample: (prompts: string[], sampleOptions?: PolicySampleOptions) => engine.sample(prompts, sampleOptions),
    logProbs: (batch: TokenBatch, logOptions?: LogProbOptions): Promise<PerTokenResult> => engine.logProbs(batch, logOptions),
    forwardTrain: (batch: TokenBatch, logOptions?: LogProbOptions): Promise<PerTokenResult> => engine.forwardTrain(batch, logOptions),
    backward: (grads: readonly Float32Array[]) => engine.backward(grads),
    optimizerStep: (stepOptions: OptimizerStepOptions) => changed(engine.optimizerStep(stepOptions)),
    zeroGrad: () => engine.zeroGrad(),
    clone: () => engine.clone(),
    syncFrom: (source: PolicyEngine, alpha: number) => changed(engine.syncFrom(source, alpha)),
    getOptimizerState: (): Promise<OptimizerStateData> => engine.getOptimizerState(),
    setOptimizerState: (state: OptimizerStateData) => changed(engine.setOptimizerState(state)),
    dispose() {
      if (disposed) return;
      disposed = true;
      engine.dispose();
      // the tfjs engine owns (and has freed) the wrapper; another engine leaves it to us
      if (!options.sharesWeights) wrapper.dispose();
    },
    async save(directory: string) {
      await refresh();
      await wrapper.save(directory);
    },
    async enhancePrompts(prompts: string[], enhanceOptions: EnhanceOptions = {}) {
      await refresh();
      const results = await wrapper.enhancePromptsDetailed(prompts, {
        ...(enhanceOptions.maxNewTokens === undefined ? {} : { maxNewTokens: enhanceOptions.maxNewTokens }),
        ...(enhanceOptions.temperature === undefined ? {} : { temperature: enhanceOptions.temperature }),
        ...(enhanceOptions.seed === undefined ? {} : { seed: enhanceOptions.seed }),
        ...(enhanceOptions.categories === undefined ? {} : { categories: enhanceOptions.categories }),
      });
      return results.map(
        (result): EnhancedPrompt => ({
          text: result.text,
          fallback: result.source === 'model' ? { used: false } : { used: true, reason: result.failure ? `${result.failure.reason}: ${result.failure.detail}` : `${result.source} fallback` },
        }),
      );
    },
  };
}

/** Assign an engine state's weights to the wrapper's variables, by parameter name. */
async function copyWeightsInto(wrapper: PolicyWrapperLike, state: OptimizerStateData): Promise<void> {
  const tf = await import('@tensorflow/tfjs');
  const variables = wrapper.trainableVariables();
  const names = wrapper.parameterNames?.() ?? variables.map((_, i) => `param.${i}`);
  const missing = names.filter((name) => !(name in state.parameters));
  if (missing.length > 0) {
    throw new TrainerError('TRAINER_COMPONENT_FAILED', `policy engine state lacks ${missing.slice(0, 3).join(', ')}: cannot copy its weights into the model for validation or saving`);
  }
  tf.tidy(() => names.forEach((name, i) => variables[i]!.assign(tf.tensor(state.parameters[name]!.weights, variables[i]!.shape))));
}
