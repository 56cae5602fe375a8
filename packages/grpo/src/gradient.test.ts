/**
 * The whole chain the trainer runs, through the port: the tiny bigram engine's forwardTrain,
 * grpoLoss's dL/dlogp, the engine's backward. The parameter gradients it accumulates equal central
 * finite differences of the same loss with respect to the weights, for every loss type, token and
 * sequence importance sampling, off-policy ratios (some tokens clipped), δ and β > 0.
 */
import { describe, expect, it } from 'vitest';
import { BigramEngine } from './__fixtures__/bigram-engine.js';
import { grpoLoss, type GrpoLossOptions } from './loss.js';
import type { TokenBatch } from './policy-engine.js';

const V = 6;
const batch: TokenBatch = { promptIds: [[1, 2], [3], [2, 4], [5]], completionIds: [[1, 2, 0], [3], [4, 4, 5, 0], [2, 1]] };
const advantages = [1.2, -0.7, 0.4, -0.9];
const T = 0.9;

const cases: [string, Partial<GrpoLossOptions>][] = [
  ['grpo, token IS, β = 0.1', { lossType: 'grpo' }],
  ['bnpo, ε_high 0.28', { lossType: 'bnpo', epsilonHigh: 0.28 }],
  ['dr_grpo', { lossType: 'dr_grpo', maxCompletionLength: 5 }],
  ['dapo, δ = 1.3', { lossType: 'dapo', numItemsInBatch: 10, delta: 1.3 }],
  ['grpo, sequence IS (GSPO)', { lossType: 'grpo', importanceSamplingLevel: 'sequence', epsilon: 0.05 }],
];

describe('engine gradient of the GRPO loss vs finite differences on a tiny policy', () => {
  for (const [name, extra] of cases) {
    it(name, async () => {
      const policy = BigramEngine.random(V, 3, 0.8);
      // a different policy → ratios ≠ 1, some clipped
      const old = (await BigramEngine.random(V, 4, 0.8).logProbs(batch, { temperature: T })).logProbs;
      const ref = (await BigramEngine.random(V, 5, 0.8).logProbs(batch, { temperature: T })).logProbs;
      const options: GrpoLossOptions = { beta: 0.1, epsilon: 0.2, lossType: 'grpo', ...extra };
      const lossOf = async (): Promise<number> =>
        grpoLoss({ logProbs: (await policy.logProbs(batch, { temperature: T })).logProbs, oldLogProbs: old, refLogProbs: ref, advantages }, options).loss;

      const forward = await policy.forwardTrain(batch, { temperature: T });
      await policy.backward(grpoLoss({ logProbs: forward.logProbs, oldLogProbs: old, refLogProbs: ref, advantages }, options).gradLogProbs);
      const analytic = policy.gradients();
      const h = 2e-3;
      let maxErr = 0;
      let maxGrad = 0;
      const weights = policy.weights();
      for (let p = 0; p < weights.length; p++) {
        for (let j = 0; j < weights[p]!.length; j++) {
          const at = async (delta: number): Promise<number> => {
            policy.setWeight(p, j, weights[p]![j]! + delta);
            return lossOf();
          };
          const fd = ((await at(h)) - (await at(-h))) / (2 * h);
          policy.setWeight(p, j, weights[p]![j]!);
          maxErr = Math.max(maxErr, Math.abs(fd - analytic[p]![j]!));
          maxGrad = Math.max(maxGrad, Math.abs(analytic[p]![j]!));
        }
      }
      console.log(`[gradient] ${name}: max |engine − FD| = ${maxErr.toExponential(2)}, max |grad| = ${maxGrad.toFixed(4)}`);
      expect(maxGrad).toBeGreaterThan(0.01);
      expect(maxErr).toBeLessThan(2e-4);
    });
  }

  it('backward accumulates until optimizerStep or zeroGrad clears it', async () => {
    const policy = BigramEngine.random(V, 3, 0.8);
    const forward = await policy.forwardTrain(batch);
    const grad = grpoLoss({ logProbs: forward.logProbs, advantages }, { beta: 0, epsilon: 0.2, lossType: 'grpo' }).gradLogProbs;
    await policy.backward(grad);
    const once = policy.gradients().flat();
    await policy.backward(grad);
    policy.gradients().flat().forEach((g, i) => expect(g).toBeCloseTo(2 * once[i]!, 6));
    await policy.zeroGrad();
    expect(policy.gradients().flat().every((g) => g === 0)).toBe(true);
  });
});
