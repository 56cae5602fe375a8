import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AdamW, clipByGlobalNorm } from './optimizer.js';
import { learningRateAt, warmupStepsFromRatio } from './schedule.js';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('AdamW (golden, torch.optim.AdamW formula)', () => {
  it('applies decoupled weight decay to matrices only and bias-corrected Adam steps', () => {
    // lr 0.1, λ 0.01, β (0.9, 0.999), ε 1e-8; gradients 0.5 then −1 for every entry.
    // matrix entry p = 1 (decayed):
    //   t=1: p ← 1·(1 − 0.001) = 0.999; m = 0.05; v = 0.00025; step = 0.1/0.1 = 1;
    //        denom = √0.00025/√0.001 + 1e-8 = 0.5 + 1e-8 → p = 0.999 − 0.05/0.5 = 0.899000002
    //   t=2: p ← 0.899000002·0.999; m = −0.055; v = 0.00124975; bc1 = 0.19; bc2 = 0.001999
    //        → p = 0.93471135424
    // bias entry p = 1 (rank 1, not decayed): 0.900000002 then 0.93661035424
    const w = tf.variable(tf.ones([2, 2]));
    const b = tf.variable(tf.ones([2]));
    const opt = new AdamW(tf, [w, b], { weightDecay: 0.01 });
    opt.step([tf.fill([2, 2], 0.5), tf.fill([2], 0.5)], 0.1);
    expect(w.dataSync()[0]).toBeCloseTo(0.899000002, 6);
    expect(b.dataSync()[0]).toBeCloseTo(0.900000002, 6);
    opt.step([tf.fill([2, 2], -1), tf.fill([2], -1)], 0.1);
    expect(w.dataSync()[3]).toBeCloseTo(0.9347113542, 6);
    expect(b.dataSync()[1]).toBeCloseTo(0.9366103542, 6);
    expect(opt.stepCount).toBe(2);
  });

  it('exports and restores its moments exactly', () => {
    const a = tf.variable(tf.tensor1d([1, 2]));
    const opt = new AdamW(tf, [a]);
    opt.step([tf.tensor1d([0.3, -0.2])], 0.01);
    const state = opt.getState();
    const b = tf.variable(tf.tensor1d(Array.from(a.dataSync())));
    const opt2 = new AdamW(tf, [b]);
    opt2.setState(state);
    opt.step([tf.tensor1d([0.1, 0.4])], 0.01);
    opt2.step([tf.tensor1d([0.1, 0.4])], 0.01);
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(() => opt2.setState({ step: 1, m: [], v: [] })).toThrowError(/expected 1 tensors, got 0/);
  });
});

describe('clipByGlobalNorm (clip_grad_norm_)', () => {
  it('scales by maxNorm / (norm + 1e-6) when the norm is larger, and reports the norm before clipping', () => {
    // ‖[3, 4]‖ = 5 → coef 1 / 5.000001 → [0.59999988, 0.79999984]
    const { grads, norm } = clipByGlobalNorm(tf, [tf.tensor1d([3]), tf.tensor1d([4])], 1);
    expect(norm).toBeCloseTo(5, 6);
    expect(grads[0]!.dataSync()[0]).toBeCloseTo(0.59999988, 6);
    expect(grads[1]!.dataSync()[0]).toBeCloseTo(0.79999984, 6);
    const small = clipByGlobalNorm(tf, [tf.tensor1d([0.3, 0.4])], 1);
    expect(Array.from(small.grads[0]!.dataSync())).toEqual([0.30000001192092896, 0.4000000059604645]);
  });
});

describe('learningRateAt (transformers schedules)', () => {
  const base = { learningRate: 1, warmupSteps: 2, totalSteps: 10 };
  it('linear warm-up then cosine decay', () => {
    // warm-up 0, 0.5; then ½(1 + cos(π·(s−2)/8)): s=2 → 1, s=5 → 0.69134172, s=10 → 0
    const lrs = [0, 1, 2, 5, 10].map((s) => learningRateAt(s, { ...base, schedulerType: 'cosine' }));
    [0, 0.5, 1, 0.6913417162, 0].forEach((e, i) => expect(lrs[i]).toBeCloseTo(e, 9));
  });
  it('linear warm-up then linear decay', () => {
    // (10 − s)/8: s=5 → 0.625
    const lrs = [0, 1, 2, 5, 10, 12].map((s) => learningRateAt(s, { ...base, schedulerType: 'linear' }));
    [0, 0.5, 1, 0.625, 0, 0].forEach((e, i) => expect(lrs[i]).toBeCloseTo(e, 12));
  });
  it('constant ignores warm-up; constant_with_warmup does not; floor ratio', () => {
    expect(learningRateAt(0, { ...base, schedulerType: 'constant' })).toBe(1);
    expect(learningRateAt(1, { ...base, schedulerType: 'constant_with_warmup' })).toBe(0.5);
    expect(learningRateAt(10, { ...base, schedulerType: 'cosine', minLearningRateRatio: 0.1 })).toBeCloseTo(0.1, 12);
  });
  it('warm-up ratio rounds up like transformers', () => {
    expect(warmupStepsFromRatio(10, 0.15)).toBe(2);
    expect(() => warmupStepsFromRatio(10, 2)).toThrowError(/warmupRatio/);
  });
});
