/**
 * The per-tensor f16 loss scale against its definition (f16-scale.ts): s = 2^(14 − ⌊log₂ max|x|⌋)
 * exactly, 1 for an all-zero tensor, the clamp, several partial blocks, and what it is for: a
 * gradient far below f16's range survives the scaled cast and the matmul's 1/s (matmul-f16.ts
 * `alphaScale`) gives back the fp32 product to f16 accuracy, where the unscaled cast loses it.
 */
import { expect, it } from 'vitest';
import { describeGpu, device, random, run } from '../__fixtures__/gpu-test-utils.js';
import { castF32ToF16, f16Bytes } from './cast-f16.js';
import { f16Scale, f16ScalePartials } from './f16-scale.js';
import { matmul } from './matmul.js';
import { matmulF16 } from './matmul-f16.js';

describeGpu('f16 loss scale: s = 2^(14 − ⌊log₂ max|x|⌋), [s, 1/s]', () => {
  async function scaleOf(x: Float32Array): Promise<[number, number]> {
    const ctx = device();
    const out = ctx.buffer('scale', 8);
    await run(ctx, f16Scale(ctx, 'scale', { n: x.length, x: { buffer: ctx.upload('x', x) }, partial: { buffer: ctx.buffer('partial', f16ScalePartials(x.length) * 4) }, out: { buffer: out } }));
    const [s, inv] = await ctx.readF32(out, 2);
    return [s!, inv!];
  }

  it('exact powers of two from the largest magnitude, anywhere in a multi-block tensor', async () => {
    const n = 3 * 4096 + 17; // four partial blocks, the last one partial
    expect(f16ScalePartials(n)).toBe(4);
    for (const [peak, at] of [[-3.0e-7, n - 1], [1, 5000], [-1.5, 0], [70000, 9000], [2 ** -120, 1]] as const) {
      const x = Float32Array.from(random(31, n, -1, 1), (u) => u * Math.abs(peak) * 0.5);
      x[at] = peak;
      const expected = 2 ** Math.min(126, Math.max(-126, 14 - Math.floor(Math.log2(Math.abs(Math.fround(peak))))));
      const [s, inv] = await scaleOf(x);
      expect([s, inv], `peak ${peak}`).toEqual([expected, 1 / expected]);
      if (Math.abs(peak) >= 2 ** -100) { // 2⁻¹²⁰ is clamped at s = 2¹²⁶
        expect(Math.abs(Math.fround(peak)) * s).toBeGreaterThanOrEqual(2 ** 14);
        expect(Math.abs(Math.fround(peak)) * s).toBeLessThan(2 ** 15);
      }
    }
  });

  it('an all-zero tensor gets s = 1', async () => {
    expect(await scaleOf(new Float32Array(300))).toEqual([1, 1]);
  });

  it('a gradient of ~1e-8 survives the scaled cast and 1/s: the f16 product matches fp32 to f16 accuracy; the unscaled cast does not', async () => {
    const ctx = device();
    const [m, n, k] = [16, 24, 300];
    const dy = Float32Array.from(random(41, m * k), (u) => u * 1e-8); // like dlogits of a 50k vocabulary
    const w = random(42, k * n);
    const dyBuffer = ctx.upload('dy', dy);
    const scale = ctx.buffer('scale', 8);
    const dy16 = ctx.buffer('dy16', f16Bytes(m * k));
    const dyRaw16 = ctx.buffer('dyRaw16', f16Bytes(m * k));
    const w16 = ctx.buffer('w16', f16Bytes(k * n));
    const wBuffer = ctx.upload('w', w);
    const [scaled, unscaled, exact] = [ctx.buffer('c', m * n * 4), ctx.buffer('c2', m * n * 4), ctx.buffer('c3', m * n * 4)];
    const view = (buffer: GPUBuffer, width: number) => ({ slice: { buffer }, rowStride: width, colStride: 1 });
    await run(ctx, [
      ...f16Scale(ctx, 'scale', { n: m * k, x: { buffer: dyBuffer }, partial: { buffer: ctx.buffer('partial', 16) }, out: { buffer: scale } }),
      castF32ToF16(ctx, 'dy16', { n: m * k, src: { slice: { buffer: dyBuffer } }, dst: { slice: { buffer: dy16 } }, scale: { slice: { buffer: scale } } }),
      castF32ToF16(ctx, 'dyRaw16', { n: m * k, src: { slice: { buffer: dyBuffer } }, dst: { slice: { buffer: dyRaw16 } } }),
      castF32ToF16(ctx, 'w16', { n: k * n, src: { slice: { buffer: wBuffer } }, dst: { slice: { buffer: w16 } } }),
      matmulF16(ctx, 'scaled', { m, n, k, a: view(dy16, k), b: view(w16, n), c: { slice: { buffer: scaled } }, alphaScale: { slice: { buffer: scale }, offset: 1 } }),
      matmulF16(ctx, 'unscaled', { m, n, k, a: view(dyRaw16, k), b: view(w16, n), c: { slice: { buffer: unscaled } } }),
      matmul(ctx, 'exact', { m, n, k, a: view(dyBuffer, k), b: view(wBuffer, n), c: { slice: { buffer: exact } } }),
    ]);
    const [got, raw, want] = [await ctx.readF32(scaled, m * n), await ctx.readF32(unscaled, m * n), await ctx.readF32(exact, m * n)];
    const rel = (a: Float32Array) => Math.max(...a.map((v, i) => Math.abs(v - want[i]!))) / Math.max(...want.map(Math.abs));
    // f16 rounding of both operands: ~2·2⁻¹¹ of Σ|a·b| (√k terms of random sign: a few 1e-3 of max|C|)
    expect(rel(got)).toBeLessThan(5e-3);
    expect(rel(raw)).toBeGreaterThan(0.1);
  });
});
