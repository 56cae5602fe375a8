import { describe, expect, it } from 'vitest';
import { aggregateRewards, computeAdvantages, nanMean, nanStd } from './advantages.js';
import { GrpoError } from './errors.js';

const close = (actual: ArrayLike<number>, expected: number[], digits = 6): void => {
  expect(actual.length).toBe(expected.length);
  expected.forEach((e, i) => expect(actual[i]).toBeCloseTo(e, digits));
};

describe('nanMean / nanStd', () => {
  it('skip non-finite values and use the sample std', () => {
    expect(nanMean([1, Number.NaN, 3])).toBe(2);
    // sample std of [1, 3]: sqrt(((1−2)² + (3−2)²) / (2 − 1)) = sqrt(2)
    expect(nanStd([1, Number.NaN, 3, Number.POSITIVE_INFINITY])).toBeCloseTo(Math.SQRT2, 12);
    expect(nanStd([7])).toBe(0);
    expect(Number.isNaN(nanMean([Number.NaN]))).toBe(true);
  });
});

describe('computeAdvantages (golden, TRL formula)', () => {
  // Two groups of G = 4: [1, 2, 3, 6] and [5, 5, 5, 5].
  const rewards = [1, 2, 3, 6, 5, 5, 5, 5];

  it("scaleRewards 'group': (r − mean) / (sample std + 1e-4)", () => {
    // group 1: mean 3, deviations [−2, −1, 0, 3], Σd² = 14, sample var 14/3, std 2.1602468995
    //   A = d / 2.1603468995 = [−0.92577724, −0.46288862, 0, 1.38866587]
    // group 2: all equal → std 0 → A = 0 / 1e-4 = 0
    const out = computeAdvantages(rewards, 4);
    close(out.advantages, [-0.9257772446, -0.4628886223, 0, 1.3886658669, 0, 0, 0, 0], 8);
    close(out.groupMeans, [3, 5]);
    close(out.groupStds, [2.1602468995, 0], 8);
    expect(out.zeroStdGroups).toEqual([false, true]);
  });

  it("scaleRewards 'batch': group-centred, divided by the batch sample std (Lite PPO)", () => {
    // batch: mean 4, deviations [−3, −2, −1, 2, 1, 1, 1, 1], Σd² = 22, var 22/7, std 1.7728105209
    //   A = group-centred d / 1.7729105209 = [−1.12808852, −0.56404426, 0, 1.69213278, 0…]
    const out = computeAdvantages(rewards, 4, { scaleRewards: 'batch' });
    close(out.advantages, [-1.1280885169, -0.5640442584, 0, 1.6921327753, 0, 0, 0, 0], 8);
  });

  it("scaleRewards 'none': only centred (Dr. GRPO)", () => {
    close(computeAdvantages(rewards, 4, { scaleRewards: 'none' }).advantages, [-2, -1, 0, 3, 0, 0, 0, 0], 12);
  });

  it('excludes non-finite rewards from the statistics and gives them advantage 0', () => {
    // valid [1, 3, 5]: mean 3, sample var ((−2)² + 0 + 2²)/2 = 4, std 2 → A = ±2 / 2.0001 = ±0.99995
    const out = computeAdvantages([1, Number.NaN, 3, 5], 4);
    close(out.advantages, [-0.9999500025, 0, 0, 0.9999500025], 9);
    expect(out.advantages.every(Number.isFinite)).toBe(true);
  });

  it('all-equal and all-missing rewards give zero advantages, never NaN', () => {
    const out = computeAdvantages([2, 2, Number.NaN, Number.NaN], 2);
    expect(Array.from(out.advantages)).toEqual([0, 0, 0, 0]);
    expect(out.zeroStdGroups).toEqual([true, true]);
  });

  it('rejects lengths not divisible by numGenerations with a clear code', () => {
    expect(() => computeAdvantages([1, 2, 3], 2)).toThrowError(/not divisible into groups of numGenerations=2/);
    try {
      computeAdvantages([1, 2, 3], 2);
    } catch (error) {
      expect(GrpoError.isInstance(error) && error.code).toBe('GRPO_BATCH_NOT_DIVISIBLE');
    }
  });
});

describe('aggregateRewards (golden)', () => {
  // K = 2 functions, G = 2, two groups; weights [1, 0.5].
  const r1 = [1, 0, 1, 1];
  const r2 = [0, 2, 3, 1];

  it('sumThenNormalize: weighted nansum, then group advantages (TRL default)', () => {
    // r = r1 + 0.5·r2 = [1, 1, 2.5, 1.5]; group 1 equal → A = 0;
    // group 2: mean 2, std sqrt(0.5) = 0.70710678 → A = ±0.5 / 0.70720678 = ±0.70700680
    const out = aggregateRewards([r1, r2], 2, { rewardWeights: [1, 0.5] });
    close(out.rewards, [1, 1, 2.5, 1.5], 12);
    close(out.advantages, [0, 0, 0.7070067953, -0.7070067953], 8);
  });

  it('normalizeThenSum (GDPO): per-function group normalisation, weighted sum, batch renormalisation', () => {
    // f1 group 1 [1, 0]: ±0.5 / (0.70710678 + 1e-4) = ±0.70700680 (a); group 2 equal → 0
    // f2 group 1 [0, 2]: ∓1 / (1.41421356 + 1e-4) = ∓0.70705678 (c); group 2 [3, 1] → ±c
    // sum with weights [1, 0.5]: [a − c/2, −a + c/2, c/2, −c/2] = [0.35347840, −0.35347840, 0.35352839, −0.35352839]
    // batch: mean 0, sample std 0.40819056 → A = x / 0.40829056 = [0.86575207, −0.86575207, 0.86587451, −0.86587451]
    const out = aggregateRewards([r1, r2], 2, { rewardWeights: [1, 0.5], aggregation: 'normalizeThenSum' });
    close(out.advantages, [0.8657520736, -0.8657520736, 0.8658745095, -0.8658745095], 8);
    close(out.rewards, [1, 1, 2.5, 1.5], 12);
    expect(out.zeroStdGroups).toEqual([false, false]);
  });

  it('skips missing values per function; a row missing everywhere gets reward NaN and advantage 0', () => {
    // row 0: only f1 → 1; row 1: only f2 → 0.5·2 = 1; row 2: nothing → NaN; row 3: 1 + 0.5·1 = 1.5
    const out = aggregateRewards(
      [
        [1, Number.NaN, Number.NaN, 1],
        [Number.NaN, 2, Number.NaN, 1],
      ],
      2,
      { rewardWeights: [1, 0.5] },
    );
    expect(Array.from(out.rewards.slice(0, 2))).toEqual([1, 1]);
    expect(Number.isNaN(out.rewards[2])).toBe(true);
    expect(out.rewards[3]).toBe(1.5);
    // group 2 has one valid reward: std 0, its row's advantage (1.5 − 1.5)/1e-4 = 0
    expect(Array.from(out.advantages)).toEqual([0, 0, 0, 0]);
  });

  it('validates weights and lengths', () => {
    expect(() => aggregateRewards([r1, r2], 2, { rewardWeights: [1] })).toThrowError(/rewardWeights: expected 2/);
    expect(() => aggregateRewards([r1, [1, 2]], 2)).toThrowError(/rewardsPerFunc\[1\]: expected 4 values, got 2/);
  });
});
