import { describe, expect, it } from 'vitest';
import { ClipRewardError } from './errors.js';
import { Normalizer, RunningStats } from './normalization.js';

const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const pstd = (xs: number[]): number => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

describe('normalisation', () => {
  it('affine and clip', () => {
    expect(new Normalizer({ type: 'affine', scale: 1 / 26 }).apply([26, 13])).toEqual([1, 0.5]);
    expect(new Normalizer({ type: 'affine', scale: 2, shift: -1 }).apply([0, 1])).toEqual([-1, 1]);
    expect(new Normalizer({ type: 'clip', min: 0, max: 1 }).apply([-2, 0.5, 3])).toEqual([0, 0.5, 1]);
    expect(new Normalizer().apply([5])).toEqual([5]);
  });

  it('Welford statistics equal the two-pass mean and population std', () => {
    const xs = [3.1, -2, 7.5, 0.25, 10, 4.4, -6];
    const s = new RunningStats();
    xs.forEach((x) => s.push(x));
    expect(s.count).toBe(7);
    expect(s.mean).toBeCloseTo(mean(xs), 12);
    expect(s.std).toBeCloseTo(pstd(xs), 12);
  });

  it('running z-score updates with each batch, then standardises it', () => {
    const n = new Normalizer({ type: 'zscore', epsilon: 0 });
    const b1 = [1, 2, 3];
    const z1 = n.apply(b1);
    z1.forEach((z, i) => expect(z).toBeCloseTo((b1[i]! - 2) / pstd(b1), 12));
    const b2 = [10, 20];
    const all = [...b1, ...b2];
    const z2 = n.apply(b2);
    z2.forEach((z, i) => expect(z).toBeCloseTo((b2[i]! - mean(all)) / pstd(all), 12));
    // Frozen statistics (evaluation) do not move.
    const frozen = n.apply([100], false);
    expect(frozen[0]).toBeCloseTo((100 - mean(all)) / pstd(all), 12);
    expect(n.getState()).toEqual([{ type: 'zscore', count: 5, mean: expect.closeTo(mean(all), 12), m2: expect.closeTo(pstd(all) ** 2 * 5, 9) }]);
  });

  it('a single value is only centred; chains apply left to right', () => {
    expect(new Normalizer({ type: 'zscore' }).apply([4])).toEqual([0]);
    const chain = new Normalizer([{ type: 'zscore', epsilon: 0 }, { type: 'clip', min: -1, max: 1 }]);
    const out = chain.apply([0, 0, 0, 10]);
    expect(out[3]).toBe(1);
    expect(out[0]).toBeCloseTo(-0.5773502691896258, 12);
  });

  it('saves and restores state so a resumed run continues identically', () => {
    const a = new Normalizer([{ type: 'zscore' }, { type: 'clip', min: -3, max: 3 }]);
    a.apply([1, 5, 2, 8]);
    const saved = JSON.parse(JSON.stringify(a.getState()));
    const b = new Normalizer([{ type: 'zscore' }, { type: 'clip', min: -3, max: 3 }]);
    b.setState(saved);
    expect(b.apply([3, 9, -4])).toEqual(a.apply([3, 9, -4]));
    b.reset();
    expect(b.getState()[0]).toEqual({ type: 'zscore', count: 0, mean: 0, m2: 0 });
  });

  it('rejects bad specs and mismatched state with CLIP_INVALID_CONFIG', () => {
    const code = (f: () => unknown): string | undefined => {
      try {
        f();
      } catch (error) {
        return ClipRewardError.isInstance(error) ? error.code : 'other';
      }
      return undefined;
    };
    expect(code(() => new Normalizer({ type: 'clip', min: 2, max: 1 }))).toBe('CLIP_INVALID_CONFIG');
    expect(code(() => new Normalizer({ type: 'affine', scal: 2 } as never))).toBe('CLIP_INVALID_CONFIG');
    expect(code(() => new Normalizer({ type: 'minmax' } as never))).toBe('CLIP_INVALID_CONFIG');
    expect(code(() => new Normalizer({ type: 'zscore' }).setState([{ type: 'clip' }]))).toBe('CLIP_INVALID_CONFIG');
    expect(code(() => new Normalizer({ type: 'zscore' }).setState([{ type: 'zscore', count: -1, mean: 0, m2: 0 }]))).toBe('CLIP_INVALID_CONFIG');
  });
});
