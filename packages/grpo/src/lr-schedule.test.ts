import { describe, expect, it } from 'vitest';
import { learningRateAt, warmupStepsFromRatio } from './lr-schedule.js';

describe('learningRateAt (transformers get_scheduler)', () => {
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
  it('follows get_cosine/linear_schedule_with_warmup at lr 1e-3, warm-up 10 of 110 (linear is the default)', () => {
    const peak = { learningRate: 1e-3, warmupSteps: 10, totalSteps: 110 };
    expect(learningRateAt(0, { ...peak, schedulerType: 'cosine' })).toBe(0);
    expect(learningRateAt(5, { ...peak, schedulerType: 'cosine' })).toBeCloseTo(5e-4, 12);
    expect(learningRateAt(10, { ...peak, schedulerType: 'cosine' })).toBeCloseTo(1e-3, 12);
    expect(learningRateAt(60, { ...peak, schedulerType: 'cosine' })).toBeCloseTo(5e-4, 12);
    expect(learningRateAt(110, { ...peak, schedulerType: 'cosine' })).toBeCloseTo(0, 12);
    expect(learningRateAt(35, { ...peak, schedulerType: 'linear' })).toBeCloseTo(7.5e-4, 12);
    expect(learningRateAt(35, peak)).toBeCloseTo(7.5e-4, 12);
    expect(learningRateAt(100, { ...peak, schedulerType: 'constant' })).toBe(1e-3);
  });
  it('constant ignores warm-up; constant_with_warmup does not', () => {
    expect(learningRateAt(0, { ...base, schedulerType: 'constant' })).toBe(1);
    expect(learningRateAt(1, { ...base, schedulerType: 'constant_with_warmup' })).toBe(0.5);
    expect(learningRateAt(7, { ...base, schedulerType: 'constant_with_warmup' })).toBe(1);
  });
  it('decay floor: absolute (minLearningRate) or a ratio of the peak (minLearningRateRatio), not both', () => {
    expect(learningRateAt(10, { ...base, schedulerType: 'cosine', minLearningRateRatio: 0.1 })).toBeCloseTo(0.1, 12);
    const peak = { learningRate: 1e-3, warmupSteps: 10, totalSteps: 110 };
    expect(learningRateAt(110, { ...peak, schedulerType: 'cosine', minLearningRate: 1e-4 })).toBeCloseTo(1e-4, 12);
    // linear halfway (factor 0.5) with floor 0.2: 0.2 + 0.8 · 0.5 = 0.6
    expect(learningRateAt(6, { ...base, schedulerType: 'linear', minLearningRate: 0.2 })).toBeCloseTo(0.6, 12);
    expect(learningRateAt(6, { ...base, schedulerType: 'linear', minLearningRateRatio: 0.2 })).toBeCloseTo(0.6, 12);
    expect(() => learningRateAt(6, { ...base, minLearningRate: 0.1, minLearningRateRatio: 0.1 })).toThrowError(/not both/);
  });
  it('warm-up ratio rounds up like transformers', () => {
    expect(warmupStepsFromRatio(10, 0.15)).toBe(2);
    expect(warmupStepsFromRatio(110, 0)).toBe(0);
    expect(() => warmupStepsFromRatio(10, 2)).toThrowError(/warmupRatio/);
  });
});
