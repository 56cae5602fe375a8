/**
 * "It learns" on the WebGPU engine: @vlm-grpo/grpo's GRPOTrainer on the tiny GPT-2 fixture through
 * createWebGpuPolicyEngine (sampling with the wrapper's seeded tfjs generation after each update,
 * log-probs, backward and AdamW on WebGPU), with the synthetic reward of vlm's
 * `grpo-learns.test.ts` (fraction of completion tokens with ids in [300, 400), ≈ 10 % at the
 * random initialisation). The reward must rise clearly and the k3 KL to the frozen reference (a
 * clone on the same device) stay bounded. The curves are printed. The same run with mixed
 * precision and activation recomputation (`precision: 'f16'`, `recompute: 'layer'`) must learn
 * as clearly.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GRPOTrainer } from '@vlm-grpo/grpo';
import { VLMWrapper, initBackend } from '@vlm-grpo/vlm';
import { expect, it } from 'vitest';
import { describeGpu, device } from './__fixtures__/gpu-test-utils.js';
import { createWebGpuPolicyEngine } from './from-wrapper.js';

const FIXTURE = join(dirname(fileURLToPath(import.meta.url)), '../../vlm/src/__fixtures__/tiny-gpt2');
const STEPS = 20;
const inTarget = (id: number): boolean => id >= 300 && id < 400;
const prompts = ['a cat', 'a dog on a sofa', 'red car', 'the moon', 'old tree', 'blue sea', 'a city at night', 'portrait'];
const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describeGpu('GRPO learns on the tiny GPT-2 fixture (WebGPU engine)', () => {
  const variants = [
    { name: 'fp32', options: {} },
    { name: 'f16, recompute layer', options: { precision: 'f16', recompute: 'layer' } as const },
  ];
  it.each(variants)('seed 1 ($name): target-token fraction rises clearly, KL stays bounded', async ({ name, options }) => {
    await initBackend('wasm');
    const wrapper = await VLMWrapper.fromPretrained(FIXTURE, { backend: null, promptFormat: 'plain', stopStrings: [] });
    const policy = await createWebGpuPolicyEngine(wrapper, { adamW: {}, context: device(), ...options });
    const trainer = await GRPOTrainer.create({
      policy,
      dataset: prompts,
      rewardFuncs: [{ name: 'target_fraction', fn: ({ completionIds }) => completionIds.map((ids) => (ids.length === 0 ? 0 : ids.filter(inTarget).length / ids.length)) }],
      config: {
        numGenerations: 8,
        generationBatchSize: 16,
        maxCompletionLength: 8,
        learningRate: 3e-2,
        lrSchedulerType: 'constant',
        beta: 0.2,
        maxSteps: STEPS,
        seed: 1,
      },
    });
    const metrics = await trainer.train();
    const reward = metrics.map((m) => m['reward']!);
    const kl = metrics.map((m) => m['kl']!);
    console.log(`[learns-webgpu ${name}] reward: ${fmt(reward)}`);
    console.log(`[learns-webgpu ${name}] kl:     ${fmt(kl)}`);
    const start = meanOf(reward.slice(0, 5));
    const end = meanOf(reward.slice(-5));
    console.log(`[learns-webgpu ${name}] first-5 mean ${start.toFixed(3)} → last-5 mean ${end.toFixed(3)}, max kl ${Math.max(...kl).toFixed(3)}`);
    expect(end).toBeGreaterThan(2 * start);
    expect(end - start).toBeGreaterThan(0.1);
    expect(Math.max(...kl)).toBeLessThan(3);
    trainer.dispose();
    policy.dispose();
    wrapper.dispose();
  }, 300_000);
});
