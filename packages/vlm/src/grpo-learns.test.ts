/**
 * "It learns": @vlm-grpo/grpo's GRPOTrainer on the tiny GPT-2 fixture through TfjsPolicyEngine
 * (VLMWrapper, a real transformer policy, on the package's test backend: wasm): the fraction of
 * completion tokens whose id lies in a target range (≈ 10 % at the random initialisation) rises
 * clearly over a fixed number of steps for 3 seeds, while the k3 KL to the frozen reference (β > 0)
 * stays bounded. Curves are printed in the test output.
 */
import { join } from 'node:path';
import { GRPOTrainer } from '@vlm-grpo/grpo';
import { beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, useTestBackend } from './__fixtures__/test-utils.js';
import { TfjsPolicyEngine } from './tfjs-policy-engine.js';
import { VLMWrapper } from './vlm-wrapper.js';

const FIXTURE = join(FIXTURES, 'tiny-gpt2');
const STEPS = 20;
const inTarget = (id: number): boolean => id >= 300 && id < 400;
const prompts = ['a cat', 'a dog on a sofa', 'red car', 'the moon', 'old tree', 'blue sea', 'a city at night', 'portrait'];
const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

beforeAll(async () => {
  await useTestBackend();
});

describe('GRPO learns on the tiny GPT-2 fixture (TfjsPolicyEngine over VLMWrapper)', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: target-token fraction rises clearly, KL stays bounded`, async () => {
      const policy = new TfjsPolicyEngine(await VLMWrapper.fromPretrained(FIXTURE, { backend: null, promptFormat: 'plain', stopStrings: [] }));
      const trainer = await GRPOTrainer.create({
        policy,
        dataset: prompts,
        rewardFuncs: [
          {
            name: 'target_fraction',
            fn: ({ completionIds }) => completionIds.map((ids) => (ids.length === 0 ? 0 : ids.filter(inTarget).length / ids.length)),
          },
        ],
        config: {
          numGenerations: 8,
          generationBatchSize: 16,
          maxCompletionLength: 8,
          learningRate: 3e-2,
          lrSchedulerType: 'constant',
          beta: 0.2,
          maxSteps: STEPS,
          seed,
        },
      });
      const metrics = await trainer.train();
      const reward = metrics.map((m) => m['reward']!);
      const kl = metrics.map((m) => m['kl']!);
      const time = metrics.map((m) => m['step_time']!);
      console.log(`[learns-gpt2] seed ${seed} reward: ${fmt(reward)}`);
      console.log(`[learns-gpt2] seed ${seed} kl:     ${fmt(kl)}`);
      const start = meanOf(reward.slice(0, 5));
      const end = meanOf(reward.slice(-5));
      console.log(
        `[learns-gpt2] seed ${seed}: first-5 mean ${start.toFixed(3)} → last-5 mean ${end.toFixed(3)}, max kl ${Math.max(...kl).toFixed(3)}, mean step ${meanOf(time).toFixed(3)} s`,
      );
      // deterministic (seeded sampling): seeds 1/2/3 measured 0.102 → 0.438, 0.106 → 0.225,
      // 0.098 → 0.305 with max KL 1.69 / 0.42 / 0.95 (wasm; 2-core CPU, ≈ 0.9 s a step). The cpu
      // backend gives the same rewards (KL 1.62 / 0.46 / 0.95, ≈ 4 s a step), as did the trainer
      // before the engine port, when tfjs differentiated the whole loss.
      expect(end).toBeGreaterThan(2 * start);
      expect(end - start).toBeGreaterThan(0.1);
      expect(Math.max(...kl)).toBeLessThan(3);
      trainer.dispose();
      policy.dispose();
    }, 180_000);
  }
});
