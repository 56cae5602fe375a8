/**
 * The loss gradient (tfjs autodiff through the tiny bigram policy's sequenceLogProbs and
 * grpoLoss) equals central finite differences of the same loss, for every loss type, token and
 * sequence importance sampling, off-policy ratios (some tokens clipped), δ and β > 0.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BigramPolicy } from './__fixtures__/bigram-policy.js';
import { grpoLoss, type GrpoLossOptions } from './loss.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const V = 6;
const promptIds = [[1, 2], [3], [2, 4], [5]];
const completionIds = [[1, 2, 0], [3], [4, 4, 5, 0], [2, 1]];
const advantages = [1.2, -0.7, 0.4, -0.9];

function lossOf(policy: BigramPolicy, old: tf.Tensor2D, ref: tf.Tensor2D, mask: tf.Tensor2D, options: GrpoLossOptions): tf.Scalar {
  const { logProbs } = policy.sequenceLogProbs(promptIds, completionIds, { temperature: 0.9 });
  return grpoLoss(tf, { logProbs, oldLogProbs: old, refLogProbs: ref, advantages: tf.tensor1d(advantages), mask }, options).loss;
}

const cases: [string, Partial<GrpoLossOptions>][] = [
  ['grpo, token IS, β = 0.1', { lossType: 'grpo' }],
  ['bnpo, ε_high 0.28', { lossType: 'bnpo', epsilonHigh: 0.28 }],
  ['dr_grpo', { lossType: 'dr_grpo', maxCompletionLength: 5 }],
  ['dapo, δ = 1.3', { lossType: 'dapo', numItemsInBatch: 10, delta: 1.3 }],
  ['grpo, sequence IS (GSPO)', { lossType: 'grpo', importanceSamplingLevel: 'sequence', epsilon: 0.05 }],
];

describe('loss gradient vs finite differences on a tiny policy', () => {
  for (const [name, extra] of cases) {
    it(name, async () => {
      const policy = BigramPolicy.random(tf, V, 3, 0.8);
      const oldPolicy = BigramPolicy.random(tf, V, 4, 0.8); // a different policy → ratios ≠ 1, some clipped
      const refPolicy = BigramPolicy.random(tf, V, 5, 0.8);
      const old = tf.tidy(() => oldPolicy.sequenceLogProbs(promptIds, completionIds, { temperature: 0.9 }).logProbs);
      const ref = tf.tidy(() => refPolicy.sequenceLogProbs(promptIds, completionIds, { temperature: 0.9 }).logProbs);
      const maskRows = completionIds.map((ids) => Array.from({ length: 4 }, (_, t) => (t < ids.length ? 1 : 0)));
      const mask = tf.tensor2d(maskRows);
      const options: GrpoLossOptions = { beta: 0.1, epsilon: 0.2, lossType: 'grpo', ...extra };
      const { grads } = tf.variableGrads(() => lossOf(policy, old, ref, mask, options), policy.trainableVariables());
      const analytic = policy.trainableVariables().map((v) => Array.from(grads[v.name]!.dataSync()));
      const h = 2e-3;
      let maxErr = 0;
      let maxGrad = 0;
      policy.trainableVariables().forEach((v, vi) => {
        const base = Float32Array.from(v.dataSync());
        for (let j = 0; j < base.length; j++) {
          const at = (delta: number): number => {
            const x = Float32Array.from(base);
            x[j] = base[j]! + delta;
            v.assign(tf.tensor(x, v.shape));
            return tf.tidy(() => lossOf(policy, old, ref, mask, options).dataSync()[0]!);
          };
          const fd = (at(h) - at(-h)) / (2 * h);
          v.assign(tf.tensor(base, v.shape));
          maxErr = Math.max(maxErr, Math.abs(fd - analytic[vi]![j]!));
          maxGrad = Math.max(maxGrad, Math.abs(analytic[vi]![j]!));
        }
      });
      console.log(`[gradient] ${name}: max |autodiff − FD| = ${maxErr.toExponential(2)}, max |grad| = ${maxGrad.toFixed(4)}`);
      expect(maxGrad).toBeGreaterThan(0.01);
      expect(maxErr).toBeLessThan(2e-4);
      policy.dispose();
      oldPolicy.dispose();
      refPolicy.dispose();
    });
  }
});
