/**
 * "It learns": GRPO raises a synthetic reward (fraction of completion tokens in a target set) on
 * a tiny trainable policy, for 3 seeds, while the k3 KL to the frozen reference (β > 0) stays
 * bounded. The curves are printed in the test output.
 *
 * Policy: the bigram engine fixture (vocabulary 10, 3 target tokens → ≈ 0.3 at random init),
 * driven through the PolicyEngine port. The same run on real transformers through
 * @vlm-grpo/vlm's TfjsPolicyEngine is vlm's `grpo-learns.test.ts`.
 */
import { describe, expect, it } from 'vitest';
import { BigramEngine, EOS } from './__fixtures__/bigram-engine.js';
import { GRPOTrainer } from './trainer.js';

const V = 10;
const TARGET = new Set([1, 2, 3]);
const STEPS = 30;
const prompts = ['a cat', 'a dog on a sofa', 'red car', 'the moon', 'old tree', 'blue sea', 'a city at night', 'portrait'];

const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(2)).join(' ');
const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

async function run(seed: number, beta: number): Promise<{ reward: number[]; kl: number[] }> {
  const policy = BigramEngine.random(V, seed, 0.5);
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
      beta,
      maxSteps: STEPS,
      seed,
    },
  });
  const metrics = await trainer.train();
  trainer.dispose();
  policy.dispose();
  return { reward: metrics.map((m) => m['reward']!), kl: metrics.map((m) => m['kl']!) };
}

describe('GRPO learns a synthetic reward (bigram engine)', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: reward rises clearly, KL stays bounded`, async () => {
      const { reward, kl } = await run(seed, 0.04);
      console.log(`[learns] seed ${seed} reward: ${fmt(reward)}`);
      console.log(`[learns] seed ${seed} kl:     ${fmt(kl)}`);
      const start = meanOf(reward.slice(0, 5));
      const end = meanOf(reward.slice(-5));
      console.log(`[learns] seed ${seed}: first-5 mean ${start.toFixed(3)} → last-5 mean ${end.toFixed(3)}, max kl ${Math.max(...kl).toFixed(3)}`);
      expect(end).toBeGreaterThan(start + 0.3);
      expect(Math.max(...kl)).toBeLessThan(2);
    });
  }

  it('a larger beta keeps the policy closer to the reference', async () => {
    const weak = await run(1, 0.04);
    const strong = await run(1, 1);
    const tail = (xs: number[]): number => meanOf(xs.slice(-5));
    console.log(`[learns] seed 1 last-5 kl: beta 0.04 → ${tail(weak.kl).toFixed(3)}, beta 1 → ${tail(strong.kl).toFixed(3)}`);
    expect(tail(strong.kl)).toBeLessThan(tail(weak.kl) / 2);
  });
});
