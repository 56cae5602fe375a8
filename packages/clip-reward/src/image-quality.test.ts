import { describe, expect, it } from 'vitest';
import { SHARPNESS_HALF_POINT, imageQuality } from './image-quality.js';
import type { RgbImage } from './image-input.js';

function grey(width: number, height: number, f: (x: number, y: number) => number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.fill(f(x, y), (y * width + x) * 3, (y * width + x) * 3 + 3);
  return { data, width, height };
}

describe('imageQuality', () => {
  it('scores a black image and a uniform grey image 0 on every check', () => {
    for (const v of [0, 128]) {
      const q = imageQuality(grey(16, 16, () => v));
      for (const value of Object.values(q.checks)) expect(value).toBeCloseTo(0, 12);
      expect(q.score).toBeCloseTo(0, 12);
    }
  });

  it('scores a black/white checkerboard 1 on every check', () => {
    const q = imageQuality(grey(16, 16, (x, y) => ((x + y) % 2 ? 255 : 0)));
    expect(q.stats.stdLuma).toBeCloseTo(0.5, 12);
    expect(q.checks.notBlank).toBe(1);
    expect(q.checks.contrast).toBe(1);
    expect(q.checks.dynamicRange).toBe(1);
    // Laplacian is ±4 everywhere inside: variance 16 → 16/(16 + k)
    expect(q.stats.laplacianVariance).toBeCloseTo(16, 9);
    expect(q.checks.sharpness).toBeCloseTo(16 / (16 + SHARPNESS_HALF_POINT), 12);
  });

  it('computes golden values on a horizontal ramp', () => {
    // luma x/255 for x = 0..255 repeated on 4 rows: linear ramp → Laplacian 0 (blurry), full range
    const q = imageQuality(grey(256, 4, (x) => x));
    expect(q.stats.meanLuma).toBeCloseTo(0.5, 12);
    const std = Math.sqrt((256 ** 2 - 1) / 12) / 255; // std of uniform integers 0..255, in [0, 1]
    expect(q.stats.stdLuma).toBeCloseTo(std, 9);
    expect(q.checks.contrast).toBe(1);
    // p1 = value at rank 0.01·1023 = 10.23 → bin 2 (4 pixels per bin); p99 = rank 1012.77 → bin 253
    expect(q.stats.p1).toBeCloseTo(2 / 255, 12);
    expect(q.stats.p99).toBeCloseTo(253 / 255, 12);
    expect(q.checks.dynamicRange).toBeCloseTo(251 / 255, 12);
    expect(q.checks.sharpness).toBeCloseTo(0, 9);
    expect(q.score).toBeCloseTo((1 + 1 + 251 / 255 + q.checks.sharpness) / 4, 12);
  });

  it('penalises near-black images and honours weights', () => {
    const dark = imageQuality(grey(16, 16, (x, y) => ((x + y) % 2 ? 10 : 0)));
    // σ = 5/255, p99 = 10/255 → notBlank = (σ/0.02)·(p99/0.1)
    expect(dark.checks.notBlank).toBeCloseTo((5 / 255 / 0.02) * (10 / 255 / 0.1), 9);
    const onlySharp = imageQuality(grey(16, 16, (x, y) => ((x + y) % 2 ? 10 : 0)), { notBlank: 0, contrast: 0, dynamicRange: 0, sharpness: 1 });
    expect(onlySharp.score).toBeCloseTo(dark.checks.sharpness, 12);
  });
});
