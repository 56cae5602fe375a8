import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { aggregateLoss, clippedSurrogate, grpoLoss, importanceLogWeights, k3Kl, stopGradient } from './loss.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const expectClose = (t: tf.Tensor, expected: number[], digits = 5): void => {
  const data = Array.from(t.dataSync());
  expect(data.length).toBe(expected.length);
  expected.forEach((e, i) => expect(data[i]).toBeCloseTo(e, digits));
};

describe('k3Kl (golden)', () => {
  it('exp(ref − logp) − (ref − logp) − 1', () => {
    // d = ref − logp = [−0.5, 1, 0]: e^−0.5 + 0.5 − 1 = 0.10653066; e − 1 − 1 = 0.71828183; 0
    const kl = k3Kl(tf, tf.tensor1d([-1, -2, -3]), tf.tensor1d([-1.5, -1, -3]));
    expectClose(kl, [0.1065306597, 0.7182818285, 0], 6);
  });
});

describe('importanceLogWeights (golden)', () => {
  const logp = tf.tensor2d([
    [-1, -2, 0],
    [-1, -1, -1],
  ]);
  const old = tf.tensor2d([
    [-1.5, -1, 0],
    [-1.2, -1, -0.7],
  ]);
  const mask = tf.tensor2d([
    [1, 1, 0],
    [1, 1, 1],
  ]);
  it('token level: logp − old', () => {
    expectClose(importanceLogWeights(tf, logp, old, mask, 'token'), [0.5, -1, 0, 0.2, 0, -0.3], 6);
  });
  it('sequence level (GSPO): masked mean log-ratio per row, shape [N, 1]', () => {
    // row 0: (0.5 − 1) / 2 = −0.25; row 1: (0.2 + 0 − 0.3) / 3 = −0.0333333
    const w = importanceLogWeights(tf, logp, old, mask, 'sequence');
    expect(w.shape).toEqual([2, 1]);
    expectClose(w, [-0.25, -0.0333333333], 6);
  });
});

describe('clippedSurrogate (golden)', () => {
  // ratio rows with A = [2, −1], ε = 0.2, ε_high = 0.28 → clip range [0.8, 1.28]
  const ratio = tf.tensor2d([
    [0.5, 1.0, 1.5],
    [0.5, 1.2, 2.0],
  ]);
  const adv = tf.tensor1d([2, -1]);
  it('−min(ρA, clip(ρ)A) with asymmetric clip', () => {
    // row 0 (A=2): ρA = [1, 2, 3], clipA = [1.6, 2, 2.56] → min [1, 2, 2.56] → loss [−1, −2, −2.56]
    // row 1 (A=−1): ρA = [−0.5, −1.2, −2], clipA = [−0.8, −1.2, −1.28] → min [−0.8, −1.2, −2] → [0.8, 1.2, 2]
    expectClose(clippedSurrogate(tf, ratio, adv, { epsilon: 0.2, epsilonHigh: 0.28 }), [-1, -2, -2.56, 0.8, 1.2, 2], 6);
  });
  it('delta caps the unclipped ratio (two-sided clipping)', () => {
    // δ = 1.6: row 1, t 2: min(2, 1.6)·(−1) = −1.6 < −1.28 → loss 1.6; row 0 t 2: 1.5 < 1.6 unchanged
    expectClose(clippedSurrogate(tf, ratio, adv, { epsilon: 0.2, epsilonHigh: 0.28, delta: 1.6 }), [-1, -2, -2.56, 0.8, 1.2, 1.6], 6);
  });
  it('ε_high defaults to ε', () => {
    // row 0 t 2: clip(1.5) = 1.2 → min(3, 2.4) = 2.4 → −2.4
    expectClose(clippedSurrogate(tf, ratio, adv, { epsilon: 0.2 }), [-1, -2, -2.4, 0.8, 1.2, 2], 6);
  });
});

describe('aggregateLoss (golden, each lossType)', () => {
  // L = [[1, 2, 3], [4, 5, 6]], mask = [[1, 1, 0], [1, 0, 0]] → masked sum 1 + 2 + 4 = 7 over 3 tokens
  const L = tf.tensor2d([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const mask = tf.tensor2d([
    [1, 1, 0],
    [1, 0, 0],
  ]);
  const cases: [Parameters<typeof aggregateLoss>[3], number, string][] = [
    // per-sequence means (1+2)/2 = 1.5 and 4/1 = 4 → mean 2.75 → / GA 2 = 1.375
    [{ lossType: 'grpo', gradientAccumulationSteps: 2 }, 1.375, 'grpo'],
    // 7 / 3 tokens = 2.3333333 → / 2 = 1.1666667
    [{ lossType: 'bnpo', gradientAccumulationSteps: 2 }, 7 / 6, 'bnpo'],
    // 7 / (N=2 · L=4) = 0.875 → / 2 = 0.4375
    [{ lossType: 'dr_grpo', gradientAccumulationSteps: 2, maxCompletionLength: 4 }, 0.4375, 'dr_grpo'],
    // 7 / numItemsInBatch 10 = 0.7, no GA division (already global)
    [{ lossType: 'dapo', gradientAccumulationSteps: 2, numItemsInBatch: 10 }, 0.7, 'dapo'],
  ];
  for (const [options, expected, name] of cases) {
    it(name, () => {
      expect(aggregateLoss(tf, L, mask, options).dataSync()[0]).toBeCloseTo(expected, 6);
    });
  }
  it('broadcasts a sequence-level [N, 1] loss over the mask', () => {
    // grpo of [[2], [3]]: each row's mean is its value → (2 + 3)/2 = 2.5
    expect(aggregateLoss(tf, tf.tensor2d([[2], [3]]), mask, { lossType: 'grpo' }).dataSync()[0]).toBeCloseTo(2.5, 6);
  });
});

describe('grpoLoss (golden, everything together)', () => {
  it('token-level ratio, clip, β·k3 KL and bnpo aggregation, with metrics', () => {
    // logp [−1, −2], old [−1.1, −1.8], ref [−1.5, −1], A = 1, ε = 0.2, β = 0.1, bnpo
    // ρ = [e^0.1, e^−0.2] = [1.10517092, 0.81873075] (inside [0.8, 1.2]) → −ρA = [−1.10517092, −0.81873075]
    // KL = [0.10653066, 0.71828183] → +0.1·KL → [−1.09451785, −0.74690257] → mean −0.92071021
    const out = grpoLoss(
      tf,
      {
        logProbs: tf.tensor2d([[-1, -2]]),
        oldLogProbs: tf.tensor2d([[-1.1, -1.8]]),
        refLogProbs: tf.tensor2d([[-1.5, -1]]),
        advantages: tf.tensor1d([1]),
        mask: tf.tensor2d([[1, 1]]),
      },
      { beta: 0.1, epsilon: 0.2, lossType: 'bnpo' },
    );
    expect(out.loss.dataSync()[0]).toBeCloseTo(-0.9207102112, 6);
    expect(out.kl!.dataSync()[0]).toBeCloseTo(0.4124062441, 6);
    expect(out.clipRegion.dataSync()[0]).toBe(0);
  });

  it('clip-ratio metrics are masked token means (TRL masked_batch_mean)', () => {
    // ratios (old = logp − log ρ): [[0.5, 1.0, 1.5], [0.5, 1.2, 2.0]], A = [2, −1], clip [0.8, 1.28], all tokens valid
    // low: ρ < 0.8 and A < 0 → row 1 t 0 → 1/6; high: ρ > 1.28 and A > 0 → row 0 t 2 → 1/6; region 2/6
    const ratios = [
      [0.5, 1.0, 1.5],
      [0.5, 1.2, 2.0],
    ];
    const logp = tf.zeros([2, 3]) as tf.Tensor2D;
    const old = tf.tensor2d(ratios.map((r) => r.map((x) => -Math.log(x))));
    const out = grpoLoss(
      tf,
      { logProbs: logp, oldLogProbs: old, advantages: tf.tensor1d([2, -1]), mask: tf.ones([2, 3]) as tf.Tensor2D },
      { beta: 0, epsilon: 0.2, epsilonHigh: 0.28, lossType: 'dapo', numItemsInBatch: 6 },
    );
    expect(out.clipLow.dataSync()[0]).toBeCloseTo(1 / 6, 6);
    expect(out.clipHigh.dataSync()[0]).toBeCloseTo(1 / 6, 6);
    expect(out.clipRegion.dataSync()[0]).toBeCloseTo(2 / 6, 6);
    // loss = Σ[−1, −2, −2.56, 0.8, 1.2, 2] / 6 = −1.56 / 6 = −0.26
    expect(out.loss.dataSync()[0]).toBeCloseTo(-0.26, 6);
    expect(out.kl).toBeUndefined();
  });

  it('on-policy (no old log-probs): value −mean(A), gradient of −A·logp (ratio ≡ 1)', () => {
    const x = tf.variable(tf.tensor2d([[-1, -2]]));
    const { value, grads } = tf.variableGrads(
      () =>
        grpoLoss(tf, { logProbs: x as unknown as tf.Tensor2D, advantages: tf.tensor1d([3]), mask: tf.ones([1, 2]) as tf.Tensor2D }, {
          beta: 0,
          epsilon: 0.2,
          lossType: 'grpo',
        }).loss,
      [x],
    );
    // loss = −(1·3 + 1·3)/2 = −3; d/dx = −A·ρ/2 = −1.5 per token
    expect(value.dataSync()[0]).toBeCloseTo(-3, 6);
    expectClose(grads[x.name]!, [-1.5, -1.5], 6);
  });
});

describe('stopGradient', () => {
  it('passes values and blocks gradients', () => {
    const x = tf.variable(tf.scalar(2));
    const { value, grads } = tf.variableGrads(() => tf.mul(x, stopGradient(tf, x)) as tf.Scalar, [x]);
    // d/dx (x · sg(x)) = sg(x) = 2 (not 2x = 4)
    expect(value.dataSync()[0]).toBe(4);
    expect(grads[x.name]!.dataSync()[0]).toBe(2);
  });
});
