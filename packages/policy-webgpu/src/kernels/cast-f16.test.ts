import { expect, it } from 'vitest';
import { f16Bits, f16Value, packF16, toF16Array } from '../__fixtures__/f16.js';
import { describeGpu, device, random, run } from '../__fixtures__/gpu-test-utils.js';
import { castF16ToF32, castF32ToF16, f16Bytes } from './cast-f16.js';

/** fp32 bit pattern of a number (after rounding it to fp32). */
function f32Bits(x: number): number {
  return new Uint32Array(Float32Array.of(x).buffer)[0]!;
}

it('CPU f16 helper: known encodings, ties to even, overflow, subnormals', () => {
  expect(f16Bits(1)).toBe(0x3c00);
  expect(f16Bits(-2)).toBe(0xc000);
  expect(f16Bits(65504)).toBe(0x7bff);
  expect(f16Bits(65519.99)).toBe(0x7bff);
  expect(f16Bits(65520)).toBe(0x7c00);
  expect(f16Bits(-0)).toBe(0x8000);
  expect(f16Bits(2 ** -24)).toBe(0x0001);
  expect(f16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and 2⁻²⁴: even
  expect(f16Bits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 units: even
  expect(f16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie: even
  expect(f16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie: even
  expect(f16Bits(2 ** -14 - 2 ** -26)).toBe(0x0400); // rounds up into the normal range
  expect(f16Value(0x3555)).toBeCloseTo(1 / 3, 3);
  for (let bits = 0; bits < 0x7c00; bits += 1) expect(f16Bits(f16Value(bits))).toBe(bits);
});

describeGpu('f32 ↔ f16 casts vs the CPU round-to-nearest-even reference', () => {
  const special = [
    0, -0, 1, -1, 0.1, -0.1, 1 / 3, 65504, 65519.99, 65520, 65536, 1e6, -1e6, Infinity, -Infinity, NaN,
    2 ** -14, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25, 3 * 2 ** -25, 2 ** -26, 1e-45, -1e-45, 1e-38,
    1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -11 + 2 ** -20, 2 ** -14 - 2 ** -26, 2048 + 1, 2048 + 3, -4097,
  ];
  // Wide dynamic range: sign · 2^[−30, 18) · [1, 2), rounded to fp32.
  const wide = Array.from(random(11, 4000), (u, i) => Math.sign(u) * 2 ** (-30 + 48 * Math.abs(random(12 + i, 1)[0]!)) * (1 + Math.abs(u)));
  const values = Float32Array.from([...special, ...wide, ...random(13, 1001, -3, 3)]);

  it('castF32ToF16 is bit-exact (RNE, ±∞ on overflow, subnormals kept, NaN quiet)', async () => {
    const ctx = device();
    const n = values.length;
    const dst = ctx.buffer('h', f16Bytes(n));
    await run(ctx, [castF32ToF16(ctx, 'cast', { n, src: { slice: { buffer: ctx.upload('x', values) } }, dst: { slice: { buffer: dst } } })]);
    const got = new Uint16Array(await ctx.read(dst, n * 2));
    const mismatches: string[] = [];
    values.forEach((x, i) => {
      const expected = Number.isNaN(x) ? 0x7e00 | (f32Bits(x) >>> 31 ? 0x8000 : 0) : f16Bits(x);
      if (got[i] !== expected) mismatches.push(`${x}: got 0x${got[i]!.toString(16)}, expected 0x${expected.toString(16)}`);
    });
    expect(mismatches.slice(0, 10)).toEqual([]);
  });

  it('castF32ToF16 at an odd f16 offset with an odd count keeps the neighbouring halves', async () => {
    const ctx = device();
    const sentinel = 0xabcd;
    const dst = ctx.upload('h', packF16(new Uint16Array(16).fill(sentinel)));
    const x = Float32Array.from(random(14, 12, -100, 100));
    // elements 2…8 of x → f16 elements 3…9 of dst
    await run(ctx, [castF32ToF16(ctx, 'cast', { n: 7, src: { slice: { buffer: ctx.upload('x', x) }, offset: 2 }, dst: { slice: { buffer: dst }, offset: 3 } })]);
    const got = Array.from(new Uint16Array(await ctx.read(dst, 32)));
    const expected = Array.from({ length: 16 }, (_, i) => (i >= 3 && i < 10 ? f16Bits(x[i - 1]!) : sentinel));
    expect(got).toEqual(expected);
  });

  it('castF32ToF16 with a GPU-read scale rounds s·x exactly like the unscaled cast of s·x (s a power of two)', async () => {
    const ctx = device();
    // gradient-like magnitudes: most below f16's subnormal range unscaled
    const x = Float32Array.from(random(16, 1001, -1, 1), (u, i) => u * 2 ** (-30 + (i % 20)));
    for (const e of [16, -3]) {
      const s = 2 ** e;
      const n = x.length;
      const dst = ctx.buffer('h', f16Bytes(n));
      const scale = ctx.upload('scale', Float32Array.of(7, 7, s)); // read at element 2
      await run(ctx, [castF32ToF16(ctx, 'cast.scaled', { n, src: { slice: { buffer: ctx.upload('x', x) } }, dst: { slice: { buffer: dst } }, scale: { slice: { buffer: scale }, offset: 2 } })]);
      const got = Array.from(new Uint16Array(await ctx.read(dst, n * 2)));
      expect(got).toEqual(Array.from(x, (v) => f16Bits(v * s)));
      if (e === 16) expect(got.filter((b) => b !== 0 && b !== 0x8000).length).toBeGreaterThan(0.9 * n); // not vacuous
    }
  });

  it('castF16ToF32 is exact for all 65,536 bit patterns (offsets included)', async () => {
    const ctx = device();
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const n = 65535;
    const dst = ctx.buffer('x', (n + 1) * 4);
    // f16 elements 1…65535 → fp32 elements 1…65535 (odd source offset)
    await run(ctx, [castF16ToF32(ctx, 'cast', { n, src: { slice: { buffer: ctx.upload('h', packF16(all)) }, offset: 1 }, dst: { slice: { buffer: dst }, offset: 1 } })]);
    const got = new Uint32Array(await ctx.read(dst, (n + 1) * 4));
    const mismatches: string[] = [];
    for (let bits = 1; bits < 65536; bits += 1) {
      const e = (bits >> 10) & 0x1f;
      const m = bits & 0x3ff;
      const expected = e === 31 && m !== 0 ? ((bits & 0x8000) << 16) | 0x7f800000 | (m << 13) : f32Bits(f16Value(bits));
      if (got[bits]! >>> 0 !== expected >>> 0) mismatches.push(`0x${bits.toString(16)}: got 0x${got[bits]!.toString(16)}, expected 0x${(expected >>> 0).toString(16)}`);
    }
    expect(mismatches.slice(0, 10)).toEqual([]);
    expect(got[0]).toBe(0); // untouched
  });

  it('f32 → f16 → f32 reproduces every f16-representable input', async () => {
    const ctx = device();
    const bits = toF16Array(random(15, 999, -70000, 70000));
    const x = Float32Array.from(bits, (b) => f16Value(b));
    const n = x.length;
    const h = ctx.buffer('h', f16Bytes(n));
    const back = ctx.buffer('back', n * 4);
    await run(ctx, [
      castF32ToF16(ctx, 'to16', { n, src: { slice: { buffer: ctx.upload('x', x) } }, dst: { slice: { buffer: h } } }),
      castF16ToF32(ctx, 'to32', { n, src: { slice: { buffer: h } }, dst: { slice: { buffer: back } } }),
    ]);
    expect(Array.from(await ctx.readF32(back, n))).toEqual(Array.from(x));
  });
});
