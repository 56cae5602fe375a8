import { describe, expect, it } from 'vitest';
import { float16BitsToFloat32, float32ToFloat16Bits, fromFloat16, linspace, roundHalfEven, toFloat16 } from './numeric.js';
import { PhiloxGenerator, philox4x32, randomSeed } from './random.js';

describe('Philox4x32-10', () => {
  // Known-answer vectors of Random123 (kat_vectors: philox4x32_10).
  it('matches the Random123 known-answer vectors', () => {
    expect(philox4x32([0, 0, 0, 0], [0, 0])).toEqual([0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
    expect(philox4x32([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff])).toEqual([
      0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd,
    ]);
    expect(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])).toEqual([
      0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1,
    ]);
  });

  it('gives the same normals for the same seed and different ones for another seed', () => {
    const a = new PhiloxGenerator(42).randn(1000);
    const b = new PhiloxGenerator(42).randn(1000);
    const c = new PhiloxGenerator(43).randn(1000);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(new PhiloxGenerator(2 ** 40 + 5).randn(4)).not.toEqual(new PhiloxGenerator(5).randn(4));
  });

  it('draws standard normals (mean 0, variance 1, symmetric tails)', () => {
    const n = 200_000;
    const x = new PhiloxGenerator(7).randn(n);
    let s = 0;
    let s2 = 0;
    let beyond2 = 0;
    for (const v of x) {
      s += v;
      s2 += v * v;
      if (Math.abs(v) > 2) beyond2++;
    }
    expect(Math.abs(s / n)).toBeLessThan(0.01);
    expect(Math.abs(s2 / n - 1)).toBeLessThan(0.01);
    expect(Math.abs(beyond2 / n - 0.0455)).toBeLessThan(0.003);
  });

  it('rejects invalid seeds and makes random ones in range', () => {
    expect(() => new PhiloxGenerator(-1)).toThrow(RangeError);
    expect(() => new PhiloxGenerator(1.5)).toThrow(RangeError);
    const s = randomSeed();
    expect(Number.isSafeInteger(s) && s >= 0).toBe(true);
  });
});

describe('numeric helpers', () => {
  it('float16 conversion round-trips and rounds to nearest even', () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
    expect(float32ToFloat16Bits(0.1)).toBe(0x2e66);
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(1e-9)).toBe(0);
    expect(float32ToFloat16Bits(Number.NaN) & 0x7c00).toBe(0x7c00);
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie → even
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(float16BitsToFloat32(0x3555)).toBeCloseTo(0.33325, 5);
    const xs = new Float32Array([0, -0.5, 3.140625, 1024, -6.103515625e-5]);
    expect(fromFloat16(toFloat16(xs))).toEqual(xs);
  });
  it('roundHalfEven and linspace follow NumPy', () => {
    expect([0.5, 1.5, 2.5, -0.5, 499.5, 2.4].map(roundHalfEven)).toEqual([0, 2, 2, -0, 500, 2]);
    expect(linspace(0, 999, 3)).toEqual([0, 499.5, 999]);
    expect(linspace(0, 10, 5, false)).toEqual([0, 2, 4, 6, 8]);
  });
});
