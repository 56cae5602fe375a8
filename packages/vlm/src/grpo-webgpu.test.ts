/**
 * GRPO on WebGPU: @vlm-grpo/grpo's trainer through TfjsPolicyEngine on the tfjs WebGPU backend, in
 * the "it learns" setting of grpo-learns.test.ts (tiny GPT-2, target-token reward) for one seed,
 * plus an exact state snapshot (`getOptimizerState` reads every tensor asynchronously: WebGPU has
 * no synchronous read-back in Node.js). Skipped where no WebGPU adapter initialises, except in CI
 * (`CI` set: .ci/run installs Mesa's lavapipe, and a missing adapter fails); for speed, run on a
 * GPU machine with tools/device (see BENCHMARKS.md), like webgpu.test.ts.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { GRPOTrainer } from '@vlm-grpo/grpo';
import { describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { FIXTURES } from './__fixtures__/test-utils.js';
import { TfjsPolicyEngine } from './tfjs-policy-engine.js';
import { VLMWrapper } from './vlm-wrapper.js';

const webgpu = await initBackend('webgpu').then(
  () => ({ ok: true, reason: '' }),
  (error: unknown) => ({ ok: false, reason: (error as Error).message }),
);

// CI installs Mesa's lavapipe (.ci/run): there a missing adapter fails this file instead of skipping it.
it.runIf(!webgpu.ok && Boolean(process.env.CI))('a WebGPU adapter initialises (required in CI: .ci/run installs lavapipe, VK_DRIVER_FILES)', () => {
  throw new Error(`no WebGPU adapter although CI is set: ${webgpu.reason}`);
});

describe.skipIf(!webgpu.ok)('GRPO through TfjsPolicyEngine on the tfjs WebGPU backend (tiny GPT-2)', () => {
  it('learns (target-token fraction rises) and snapshots its state', async () => {
    expect(tf.getBackend()).toBe('webgpu');
    const inTarget = (id: number): boolean => id >= 300 && id < 400;
    const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
    const policy = new TfjsPolicyEngine(await VLMWrapper.fromPretrained(join(FIXTURES, 'tiny-gpt2'), { backend: null, promptFormat: 'plain', stopStrings: [] }));
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
    console.log(`[webgpu] GRPO reward: ${reward.map((x) => x.toFixed(2)).join(' ')}`);
    expect(meanOf(reward.slice(-5))).toBeGreaterThan(2 * meanOf(reward.slice(0, 5)));
    const state = await trainer.getState();
    expect(state.step).toBe(20);
    expect(Object.keys(state.policy.parameters)).toEqual(policy.parameterNames);
    expect(state.policy.step).toBe(20);
    expect(Object.values(state.policy.parameters).every((p) => p.weights.every(Number.isFinite))).toBe(true);
    trainer.dispose();
    policy.dispose();
  }, 300_000);
});
