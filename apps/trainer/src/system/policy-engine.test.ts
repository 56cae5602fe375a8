import type * as tfType from '@tensorflow/tfjs';
import type { OptimizerStateData, PolicyEngine } from '@vlm-grpo/grpo';
import { beforeAll, describe, expect, it, vi } from 'vitest';

import { UnigramModel } from '../__fixtures__/test-components.js';
import { trainerConfigSchema, type TrainerConfig } from '../config/config-schema.js';
import { Logger } from '../runtime/logger.js';
import { adamWFromConfig, createPolicyEngine, engineBackedPolicy, webgpuEngineOptions, type PolicyWrapperLike } from './policy-engine.js';

let tf: typeof tfType;
beforeAll(async () => {
  tf = await import('@tensorflow/tfjs');
  await tf.setBackend('cpu');
});

const config = (modelSettings: Record<string, unknown> = {}, trainingSettings: Record<string, unknown> = {}): TrainerConfig =>
  trainerConfigSchema.parse({ model_settings: modelSettings, training_settings: trainingSettings });

/** A unigram model with the wrapper's enhancement and saving, recording the weights they saw. */
function wrapper(): PolicyWrapperLike & { model: UnigramModel; seen: number[][] } {
  const model = new UnigramModel(tf);
  const seen: number[][] = [];
  return {
    model,
    seen,
    sample: (prompts, options) => model.sample(prompts, options),
    sequenceLogProbs: (promptIds, completionIds, options) => model.sequenceLogProbs(promptIds, completionIds, options),
    trainableVariables: () => model.trainableVariables(),
    parameterNames: () => ['unigram.weight'],
    clone: async () => {
      throw new Error('not used');
    },
    dispose: () => model.dispose(),
    save: async () => {
      seen.push(Array.from(model.weights.dataSync()));
    },
    enhancePromptsDetailed: async (prompts) => {
      seen.push(Array.from(model.weights.dataSync()));
      return prompts.map((text) => ({ text, source: 'model' as const, failure: null }));
    },
  };
}

const quiet = (): { logger: Logger; lines: string[] } => {
  const lines: string[] = [];
  return { logger: new Logger({ level: 'DEBUG', console: { write: (line: string) => void lines.push(line) } }), lines };
};

describe('model_settings.policy_backend', () => {
  it('takes tfjs, webgpu or auto; a tfjs backend name points to policy_tfjs_backend', () => {
    expect(config().model_settings).toMatchObject({ policy_backend: 'auto', policy_tfjs_backend: 'auto' });
    expect(config({ policy_backend: 'tfjs', policy_tfjs_backend: 'wasm' }).model_settings.policy_tfjs_backend).toBe('wasm');
    const legacy = trainerConfigSchema.safeParse({ model_settings: { policy_backend: 'wasm' } });
    expect(legacy.success).toBe(false);
    expect(legacy.error!.issues[0]!.message).toBe(
      'policy_backend picks the policy engine (auto, tfjs, webgpu); the TensorFlow.js backend "wasm" is set with model_settings.policy_tfjs_backend',
    );
    expect(trainerConfigSchema.safeParse({ model_settings: { policy_backend: 'cuda' } }).error!.issues[0]!.message).toBe('expected one of auto, tfjs, webgpu; received "cuda"');
  });

  it('tfjs: a TfjsPolicyEngine with the configured AdamW that trains the wrapper\'s own weights', async () => {
    const w = wrapper();
    const cfg = config({ policy_backend: 'tfjs' }, { adam_beta1: 0.5, weight_decay: 0.1 });
    expect(adamWFromConfig(cfg)).toEqual({ beta1: 0.5, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.1 });
    const { logger } = quiet();
    const choice = await createPolicyEngine(w, cfg, logger);
    expect(choice.backend).toBe('tfjs');
    const before = Array.from(w.model.weights.dataSync());
    const batch = { promptIds: [[1]], completionIds: [[2, 3, 0]] };
    await choice.policy.forwardTrain(batch);
    await choice.policy.backward([Float32Array.of(1, -1, 0.5)]);
    await choice.policy.optimizerStep({ learningRate: 0.1 });
    expect(Array.from(w.model.weights.dataSync())).not.toEqual(before);
    expect(Object.keys((await choice.policy.getOptimizerState()).parameters)).toEqual(['unigram.weight']);
    choice.policy.dispose();
  });

  it('webgpu: a clear error while @vlm-grpo/policy-webgpu does not provide the engine; auto falls back to tfjs', async () => {
    const { logger } = quiet();
    const w = wrapper();
    const error = await createPolicyEngine(w, config({ policy_backend: 'webgpu' }), logger).catch((e: unknown) => e as Error);
    expect((error as Error).message).toMatch(
      /^model_settings\.policy_backend webgpu: @vlm-grpo\/policy-webgpu (is not installed|does not provide createWebGpuPolicyEngine yet|refused the model).*; use policy_backend tfjs or auto$/u,
    );
    const auto = await createPolicyEngine(w, config(), logger);
    expect(auto.backend).toBe('tfjs'); // no hardware adapter here, or no engine in the package yet
    expect(auto.reason).toMatch(/^auto: /u);
    auto.policy.dispose();
  });
});

describe('engineBackedPolicy with an engine that keeps its own weights', () => {
  it('copies the engine weights into the wrapper, by name, before enhancing or saving after an update', async () => {
    const w = wrapper();
    let weights = Float32Array.from(w.model.weights.dataSync());
    const state = (): OptimizerStateData => ({ step: 0, parameters: { 'unigram.weight': { shape: [weights.length], weights: Float32Array.from(weights) } } });
    const engine = {
      optimizerStep: async () => {
        weights = weights.map((x) => x + 1);
        return { gradNorm: 1 };
      },
      getOptimizerState: async () => state(),
      dispose: () => undefined,
    } as unknown as PolicyEngine;
    const policy = engineBackedPolicy(engine, w, { sharesWeights: false });
    const start = Array.from(w.model.weights.dataSync());
    await policy.enhancePrompts(['a cat']);
    expect(w.seen[0]).toEqual(start); // nothing to copy before an update
    await policy.optimizerStep({ learningRate: 1 });
    await policy.save('/nonexistent');
    expect(w.seen[1]!.map((x) => Math.round(x * 1e4))).toEqual(start.map((x) => Math.round((x + 1) * 1e4)));
    policy.dispose();
    expect(w.model.weights.isDisposed).toBe(true); // the wrapper is freed with a non-tfjs engine
  });
});

describe('training_settings.mixed_precision and gradient_checkpointing (webgpu engine options)', () => {
  it('default to no and false; bf16 and other values are explained; they map to precision f16 and recompute layer', () => {
    expect(config().training_settings).toMatchObject({ mixed_precision: 'no', gradient_checkpointing: false });
    expect(webgpuEngineOptions(config())).toEqual({ precision: 'fp32', recompute: 'none' });
    expect(webgpuEngineOptions(config({}, { mixed_precision: 'fp16' }))).toEqual({ precision: 'f16', recompute: 'none' });
    expect(webgpuEngineOptions(config({}, { gradient_checkpointing: true }))).toEqual({ precision: 'fp32', recompute: 'layer' });
    const bf16 = trainerConfigSchema.safeParse({ training_settings: { mixed_precision: 'bf16' } });
    expect(bf16.error!.issues[0]!.message).toBe('expected no or fp16; WebGPU shaders have no bf16 type, use fp16 (the master weights stay fp32)');
    expect(trainerConfigSchema.safeParse({ training_settings: { mixed_precision: true } }).error!.issues[0]!.message).toBe('expected one of no, fp16; received true');
    expect(trainerConfigSchema.safeParse({ training_settings: { gradient_checkpointing: 'yes' } }).success).toBe(false);
  });

  it('reach createWebGpuPolicyEngine with policy_backend webgpu; the tfjs engine says it does not apply them', async () => {
    const seen: unknown[] = [];
    vi.doMock('@vlm-grpo/policy-webgpu', () => ({
      createWebGpuPolicyEngine: async (_wrapper: unknown, options: unknown) => {
        seen.push(options);
        return { dispose: () => undefined } as unknown as PolicyEngine;
      },
    }));
    try {
      const { logger } = quiet();
      const cfg = config({ policy_backend: 'webgpu' }, { mixed_precision: 'fp16', gradient_checkpointing: true });
      const choice = await createPolicyEngine(wrapper(), cfg, logger);
      expect(choice.backend).toBe('webgpu');
      expect(seen).toEqual([expect.objectContaining({ precision: 'f16', recompute: 'layer', adamW: adamWFromConfig(cfg) })]);
      choice.policy.dispose();
    } finally {
      vi.doUnmock('@vlm-grpo/policy-webgpu');
    }
    const { logger, lines } = quiet();
    const tfjs = await createPolicyEngine(wrapper(), config({ policy_backend: 'tfjs' }, { mixed_precision: 'fp16' }), logger);
    expect(lines.filter((line) => line.includes('apply to the webgpu policy engine only'))).toHaveLength(1);
    tfjs.policy.dispose();
  });
});
