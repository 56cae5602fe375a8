/**
 * "It learns": GRPO raises a synthetic reward (fraction of completion tokens in a target set) on
 * a tiny trainable policy, for 3 seeds, while the k3 KL to the frozen reference (β > 0) stays
 * bounded. The curves are printed in the test output.
 *
 * Policy: the bigram fixture (vocabulary 10, 3 target tokens → ≈ 0.3 at random init).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BigramPolicy, EOS } from './__fixtures__/bigram-policy.js';
import { GRPOTrainer } from './trainer.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const V = 10;
const TARGET = new Set([1, 2, 3]);
const STEPS = 30;
const prompts = ['a cat', 'a dog on a sofa', 'red car', 'the moon', 'old tree', 'blue sea', 'a city at night', 'portrait'];

const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('GRPO learns a synthetic reward (bigram policy, CPU)', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: reward rises clearly, KL stays bounded`, async () => {
      const policy = BigramPolicy.random(tf, V, seed, 0.5);
      const trainer = await GRPOTrainer.create({
        policy,
        dataset: prompts,
        rewardFuncs: [
          {
            name: 'target_fraction',
            fn: ({ completionIds }) =>
              completionIds.map((ids) => {
                const body = ids.filter((t) => t !== EOS);
                return body.length === 0 ? 0 : body.filter((t) => TARGET.has(t)).length / body.length;
              }),
          },
        ],
        config: {
          numGenerations: 8,
          generationBatchSize: 32,
          maxCompletionLength: 8,
          learningRate: 0.05,
          lrSchedulerType: 'constant',
          beta: 0.04,
          maxSteps: STEPS,
          seed,
        },
      });
      const metrics = await trainer.train();
      const reward = metrics.map((m) => m['reward']!);
      const kl = metrics.map((m) => m['kl']!);
      console.log(`[learns] seed ${seed} reward: ${fmt(reward)}`);
      console.log(`[learns] seed ${seed} kl:     ${fmt(kl)}`);
      const start = meanOf(reward.slice(0, 5));
      const end = meanOf(reward.slice(-5));
      console.log(`[learns] seed ${seed}: first-5 mean ${start.toFixed(3)} → last-5 mean ${end.toFixed(3)}, max kl ${Math.max(...kl).toFixed(3)}`);
      expect(end).toBeGreaterThan(start + 0.3);
      expect(Math.max(...kl)).toBeLessThan(2);
      trainer.dispose();
      policy.dispose();
    });
  }
});
