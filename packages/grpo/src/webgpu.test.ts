/**
 * GRPO on WebGPU: the "it learns" setting of learns-gpt2.test.ts (tiny GPT-2 through VLMWrapper,
 * target-token reward) for one seed on the tfjs WebGPU backend, plus an exact state snapshot
 * (`getState` reads every tensor asynchronously: WebGPU has no synchronous read-back in Node.js).
 * Skipped where no WebGPU adapter initialises (CI, machines without a GPU driver); run on a GPU
 * machine with tools/device (see BENCHMARKS.md).
 */
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { VLMWrapper, initBackend } from '@vlm-grpo/vlm';
import { GRPOTrainer } from './trainer.js';

const FIXTURE = fileURLToPath(new URL('../../vlm/src/__fixtures__/tiny-gpt2', import.meta.url));
const available = await initBackend('webgpu').then(
  () => true,
  () => false,
);
const inTarget = (id: number): boolean => id >= 300 && id < 400;
const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe.skipIf(!available)('GRPO on the tfjs WebGPU backend (tiny GPT-2)', () => {
  it('learns (target-token fraction rises) and snapshots its state', async () => {
    expect(tf.getBackend()).toBe('webgpu');
    const policy = await VLMWrapper.fromPretrained(FIXTURE, { backend: null, promptFormat: 'plain', stopStrings: [] });
    const trainer = await GRPOTrainer.create({
      policy,
      dataset: ['a cat', 'a dog on a sofa', 'red car', 'the moon', 'old tree', 'blue sea', 'a city at night', 'portrait'],
      rewardFuncs: [
        {
          name: 'target_fraction',
          fn: ({ completionIds }) => completionIds.map((ids) => (ids.length === 0 ? 0 : ids.filter(inTarget).length / ids.length)),
        },
      ],
      config: { numGenerations: 8, generationBatchSize: 16, maxCompletionLength: 8, learningRate: 3e-2, lrSchedulerType: 'constant', beta: 0.2, maxSteps: 20, seed: 1 },
    });
    const reward = (await trainer.train()).map((m) => m['reward']!);
    console.log(`[webgpu] reward: ${reward.map((x) => x.toFixed(2)).join(' ')}`);
    expect(meanOf(reward.slice(-5))).toBeGreaterThan(2 * meanOf(reward.slice(0, 5)));
    const state = await trainer.getState();
    expect(state.step).toBe(20);
    expect(state.policyWeights.length).toBe(policy.trainableVariables().length);
    expect(state.optimizer.step).toBe(20);
    expect(state.policyWeights.every((w) => w.data.every(Number.isFinite))).toBe(true);
    trainer.dispose();
    policy.dispose();
  }, 300_000);
});
