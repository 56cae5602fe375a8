import { describe, expect, it } from 'vitest';
import {
  aggregateLoss,
  clippedSurrogate,
  grpoLoss,
  importanceLogWeights,
  k3Kl,
  type GrpoLossInputs,
  type GrpoLossOptions,
} from './loss.js';

const f32 = (rows: number[][]): Float32Array[] => rows.map((r) => Float32Array.from(r));
const expectClose = (data: ArrayLike<number>, expected: number[], digits = 6): void => {
  expect(data.length).toBe(expected.length);
  expected.forEach((e, i) => expect(data[i]).toBeCloseTo(e, digits));
};

describe('k3Kl (golden)', () => {
  it('exp(ref − logp) − (ref − logp) − 1', () => {
    // d = ref − logp = [−0.5, 1, 0]: e^−0.5 + 0.5 − 1 = 0.10653066; e − 1 − 1 = 0.71828183; 0
    expectClose([k3Kl(-1, -1.5), k3Kl(-2, -1), k3Kl(-3, -3)], [0.1065306597, 0.7182818285, 0], 9);
  });
});

describe('importanceLogWeights (golden)', () => {
  const logp = f32([
    [-1, -2, 0],
    [-1, -1, -1],
  ]);
  const old = f32([
    [-1.5, -1, 0],
    [-1.2, -1, -0.7],
  ]);
  const mask = f32([
    [1, 1, 0],
    [1, 1, 1],
  ]);
  it('token level: logp − old', () => {
    const w = importanceLogWeights(logp, old, mask, 'token');
    expectClose(w[0]!, [0.5, -1, 0]);
    expectClose(w[1]!, [0.2, 0, -0.3]);
  });
  it('sequence level (GSPO): masked mean log-ratio, one per row', () => {
    // row 0: (0.5 − 1) / 2 = −0.25; row 1: (0.2 + 0 − 0.3) / 3 = −0.0333333
    const w = importanceLogWeights(logp, old, mask, 'sequence');
    expect(w.map((row) => row.length)).toEqual([1, 1]);
    expectClose([w[0]![0]!, w[1]![0]!], [-0.25, -0.0333333333]);
  });
});

describe('clippedSurrogate (golden)', () => {
  // ratio rows with A = [2, −1], ε = 0.2, ε_high = 0.28 → clip range [0.8, 1.28]
  const ratios = [
    [0.5, 1.0, 1.5],
    [0.5, 1.2, 2.0],
  ];
  const adv = [2, -1];
  const values = (options: Parameters<typeof clippedSurrogate>[2]): number[] =>
    ratios.flatMap((row, i) => row.map((r) => clippedSurrogate(r, adv[i]!, options).value));
  it('−min(ρA, clip(ρ)A) with asymmetric clip', () => {
    // row 0 (A=2): ρA = [1, 2, 3], clipA = [1.6, 2, 2.56] → min [1, 2, 2.56] → loss [−1, −2, −2.56]
    // row 1 (A=−1): ρA = [−0.5, −1.2, −2], clipA = [−0.8, −1.2, −1.28] → min [−0.8, −1.2, −2] → [0.8, 1.2, 2]
    expectClose(values({ epsilon: 0.2, epsilonHigh: 0.28 }), [-1, -2, -2.56, 0.8, 1.2, 2]);
  });
  it('delta caps the unclipped ratio (two-sided clipping)', () => {
    // δ = 1.6: row 1, t 2: min(2, 1.6)·(−1) = −1.6 < −1.28 → loss 1.6; row 0 t 2: 1.5 < 1.6 unchanged
    expectClose(values({ epsilon: 0.2, epsilonHigh: 0.28, delta: 1.6 }), [-1, -2, -2.56, 0.8, 1.2, 1.6]);
  });
  it('ε_high defaults to ε', () => {
    // row 0 t 2: clip(1.5) = 1.2 → min(3, 2.4) = 2.4 → −2.4
    expectClose(values({ epsilon: 0.2 }), [-1, -2, -2.4, 0.8, 1.2, 2]);
  });
  it('derivative dL/dρ: −A inside the range, 0 where the clipped term wins, 0 past δ', () => {
    const d = (r: number, a: number, delta?: number): number =>
      clippedSurrogate(r, a, { epsilon: 0.2, epsilonHigh: 0.28, ...(delta === undefined ? {} : { delta }) }).dRatio;
    expect(d(1, 2)).toBe(-2); // tie (ρ inside): half to each branch, both slopes A
    expect(d(1.5, 2)).toBe(0); // A > 0 above 1 + ε_high: clipped term, flat
    expect(d(0.5, 2)).toBe(-2); // A > 0 below 1 − ε: unclipped term is the min
    expect(d(0.5, -1)).toBe(0); // A < 0 below 1 − ε: clipped term, flat
    expect(d(2, -1)).toBe(1); // A < 0 above the range: unclipped term
    expect(d(2, -1, 1.6)).toBe(0); // … capped by δ: flat
  });
});

describe('aggregateLoss (golden, each lossType)', () => {
  // L = [[1, 2, 3], [4, 5, 6]], mask = [[1, 1, 0], [1, 0, 0]] → masked sum 1 + 2 + 4 = 7 over 3 tokens
  const L = f32([
    [1, 2, 3],
    [4, 5, 6],
  ]);
  const mask = f32([
    [1, 1, 0],
    [1, 0, 0],
  ]);
  const cases: [Parameters<typeof aggregateLoss>[2], number, string][] = [
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
      expect(aggregateLoss(L, mask, options)).toBeCloseTo(expected, 9);
    });
  }
  it('a row-constant loss (sequence level) averages to its value under grpo', () => {
    // grpo of rows [2, 2, 2] and [3, 3, 3]: each row's masked mean is its value → (2 + 3)/2 = 2.5
    expect(aggregateLoss(f32([[2, 2, 2], [3, 3, 3]]), mask, { lossType: 'grpo' })).toBeCloseTo(2.5, 9);
  });
  it('names the missing normaliser', () => {
    expect(() => aggregateLoss(L, mask, { lossType: 'dapo' })).toThrowError(/dapo needs numItemsInBatch/);
    expect(() => aggregateLoss(L, mask, { lossType: 'dr_grpo' })).toThrowError(/dr_grpo needs maxCompletionLength/);
  });
});

describe('grpoLoss (golden, everything together)', () => {
  it('token-level ratio, clip, β·k3 KL and bnpo aggregation, with metrics', () => {
    // logp [−1, −2], old [−1.1, −1.8], ref [−1.5, −1], A = 1, ε = 0.2, β = 0.1, bnpo
    // ρ = [e^0.1, e^−0.2] = [1.10517092, 0.81873075] (inside [0.8, 1.2]) → −ρA = [−1.10517092, −0.81873075]
    // KL = [0.10653066, 0.71828183] → +0.1·KL → [−1.09451785, −0.74690257] → mean −0.92071021
    const out = grpoLoss(
      { logProbs: f32([[-1, -2]]), oldLogProbs: f32([[-1.1, -1.8]]), refLogProbs: f32([[-1.5, -1]]), advantages: [1], mask: f32([[1, 1]]) },
      { beta: 0.1, epsilon: 0.2, lossType: 'bnpo' },
    );
    // inputs are float32: 7 digits
    expect(out.loss).toBeCloseTo(-0.9207102112, 7);
    expect(out.kl!).toBeCloseTo(0.4124062441, 7);
    expect(out.clipRegion).toBe(0);
    // dL/dlogp_t = ½·(−A·ρ_t + β·(1 − e^(ref−logp))) = ½·(−1.10517092 + 0.1·(1 − e^−0.5)), ½·(−0.81873075 + 0.1·(1 − e))
    expectClose(out.gradLogProbs[0]!, [0.5 * (-Math.exp(0.1) + 0.1 * (1 - Math.exp(-0.5))), 0.5 * (-Math.exp(-0.2) + 0.1 * (1 - Math.E))]);
  });

  it('clip-ratio metrics are masked token means (TRL masked_batch_mean)', () => {
    // ratios (old = logp − log ρ): [[0.5, 1.0, 1.5], [0.5, 1.2, 2.0]], A = [2, −1], clip [0.8, 1.28], all tokens valid
    // low: ρ < 0.8 and A < 0 → row 1 t 0 → 1/6; high: ρ > 1.28 and A > 0 → row 0 t 2 → 1/6; region 2/6
    const ratios = [
      [0.5, 1.0, 1.5],
      [0.5, 1.2, 2.0],
    ];
    const out = grpoLoss(
      { logProbs: f32([[0, 0, 0], [0, 0, 0]]), oldLogProbs: f32(ratios.map((r) => r.map((x) => -Math.log(x)))), advantages: [2, -1] },
      { beta: 0, epsilon: 0.2, epsilonHigh: 0.28, lossType: 'dapo', numItemsInBatch: 6 },
    );
    expect(out.clipLow).toBeCloseTo(1 / 6, 9);
    expect(out.clipHigh).toBeCloseTo(1 / 6, 9);
    expect(out.clipRegion).toBeCloseTo(2 / 6, 9);
    // loss = Σ[−1, −2, −2.56, 0.8, 1.2, 2] / 6 = −1.56 / 6 = −0.26
    expect(out.loss).toBeCloseTo(-0.26, 6);
    expect(out.kl).toBeUndefined();
  });

  it('on-policy (no old log-probs): value −mean(A), gradient of −A·logp (ratio ≡ 1)', () => {
    const out = grpoLoss({ logProbs: f32([[-1, -2]]), advantages: [3] }, { beta: 0, epsilon: 0.2, lossType: 'grpo' });
    // loss = −(1·3 + 1·3)/2 = −3; d/dlogp = −A·ρ/2 = −1.5 per token
    expect(out.loss).toBeCloseTo(-3, 9);
    expectClose(out.gradLogProbs[0]!, [-1.5, -1.5]);
  });

  it('GSPO: one ratio per row, broadcast over its tokens; clip metrics are row means', () => {
    // row 0: log_w = (0.2 + 0.4)/2 = 0.3 → ρ = e^0.3 = 1.34985881 > 1.2 with A = 1 → clipped: L = −1.2 per token
    // row 1: mask [1, 0]: log_w = −0.1 → ρ = e^−0.1 = 0.90483742 (inside) with A = −1: L = 0.90483742
    // grpo: mean(−1.2, 0.90483742) = −0.14758129
    const out = grpoLoss(
      {
        logProbs: f32([[-1, -1], [-1, -1]]),
        oldLogProbs: f32([[-1.2, -1.4], [-0.9, -5]]),
        advantages: [1, -1],
        mask: f32([[1, 1], [1, 0]]),
      },
      { beta: 0, epsilon: 0.2, lossType: 'grpo', importanceSamplingLevel: 'sequence' },
    );
    expect(out.loss).toBeCloseTo((-1.2 + Math.exp(-0.1)) / 2, 7);
    expect(out.clipHigh).toBe(0.5);
    expect(out.clipLow).toBe(0);
    // row 0 is clipped (flat); row 1: dL/dlogp_0 = ½ · (+ρ) · 1/1, padding token 0
    expectClose(out.gradLogProbs[0]!, [0, 0]);
    expectClose(out.gradLogProbs[1]!, [0.5 * Math.exp(-0.1), 0]);
  });

  it('rejects ragged inputs that do not line up, naming the row', () => {
    expect(() => grpoLoss({ logProbs: f32([[-1, -2]]), oldLogProbs: f32([[-1]]), advantages: [1] }, { beta: 0, epsilon: 0.2, lossType: 'grpo' })).toThrowError(
      'grpoLoss: oldLogProbs[0] has 1 values, logProbs[0] 2',
    );
    expect(() => grpoLoss({ logProbs: f32([[-1]]), advantages: [1, 2] }, { beta: 0, epsilon: 0.2, lossType: 'grpo' })).toThrowError(/2 advantages for 1 rows/);
    expect(() => grpoLoss({ logProbs: f32([[-1]]), advantages: [1] }, { beta: 0.1, epsilon: 0.2, lossType: 'grpo' })).toThrowError(/needs refLogProbs/);
  });
});

describe('grpoLoss gradient vs central finite differences of the loss (float64)', () => {
  // Ragged rows, one fully masked token, one empty row; old log-probs spread so that some tokens
  // sit below, inside and above the clip range (both signs of A).
  const logProbs = [[-1.1, -0.4, -2.3], [-0.7], [-1.9, -0.2, -1.3, -0.8], [], [-0.5, -3.1]];
  const old = [[-1.0, -0.9, -2.0], [-0.3], [-1.9, -0.6, -1.0, -0.85], [], [-0.55, -2.6]];
  const ref = [[-1.4, -0.3, -2.0], [-1.0], [-1.5, -0.5, -1.1, -0.4], [], [-0.9, -2.8]];
  const mask = [[1, 1, 1], [1], [1, 1, 0, 1], [], [1, 1]];
  const advantages = [1.2, -0.7, 0.4, 0.3, -0.9];
  const cases: [string, Partial<GrpoLossOptions>, boolean][] = [
    ['grpo, token IS, β = 0.1', { lossType: 'grpo' }, true],
    ['bnpo, ε_high 0.28, GA 2', { lossType: 'bnpo', epsilonHigh: 0.28, gradientAccumulationSteps: 2 }, true],
    ['dr_grpo', { lossType: 'dr_grpo', maxCompletionLength: 5 }, true],
    ['dapo, δ = 1.3', { lossType: 'dapo', numItemsInBatch: 10, delta: 1.3 }, true],
    ['grpo, sequence IS (GSPO)', { lossType: 'grpo', importanceSamplingLevel: 'sequence', epsilon: 0.05 }, true],
    ['dapo, sequence IS, δ = 1.05', { lossType: 'dapo', numItemsInBatch: 9, importanceSamplingLevel: 'sequence', delta: 1.05 }, true],
    ['on-policy (μ = 1), β = 0.1', { lossType: 'dapo', numItemsInBatch: 11 }, false],
  ];
  for (const [name, extra, offPolicy] of cases) {
    it(name, () => {
      const options: GrpoLossOptions = { beta: 0.1, epsilon: 0.2, lossType: 'grpo', ...extra };
      const inputs = (lp: number[][]): GrpoLossInputs => ({
        logProbs: lp.map((r) => Float64Array.from(r)),
        // on-policy: old = stop_gradient(logp) is the point the derivative is taken at
        oldLogProbs: (offPolicy ? old : logProbs).map((r) => Float64Array.from(r)),
        refLogProbs: ref.map((r) => Float64Array.from(r)),
        advantages,
        mask,
      });
      const analytic = grpoLoss(offPolicy ? inputs(logProbs) : { ...inputs(logProbs), oldLogProbs: undefined }, options).gradLogProbs;
      const h = 1e-6;
      let maxErr = 0;
      let maxGrad = 0;
      logProbs.forEach((row, i) =>
        row.forEach((_, t) => {
          const at = (d: number): number => grpoLoss(inputs(logProbs.map((r, k) => r.map((x, s) => (k === i && s === t ? x + d : x)))), options).loss;
          const fd = (at(h) - at(-h)) / (2 * h);
          maxErr = Math.max(maxErr, Math.abs(fd - analytic[i]![t]!));
          maxGrad = Math.max(maxGrad, Math.abs(analytic[i]![t]!));
        }),
      );
      console.log(`[loss gradient] ${name}: max |analytic − FD| = ${maxErr.toExponential(2)}, max |grad| = ${maxGrad.toFixed(4)}`);
      expect(maxGrad).toBeGreaterThan(0.01);
      // float32 gradients: ~1e-7 relative rounding; FD truncation error is O(h²)
      expect(maxErr).toBeLessThan(1e-6);
    });
  }
});
