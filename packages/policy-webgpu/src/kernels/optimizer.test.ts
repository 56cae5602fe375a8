import { expect, it } from 'vitest';
import { describeGpu, device, random, read, relativeError, run } from '../__fixtures__/gpu-test-utils.js';
import { adamwHyper, adamwStep, lerp } from './adamw.js';
import { globalNormFinal, globalNormPartial, globalNormUniform, normPartials } from './global-norm.js';

describeGpu('AdamW and global-norm kernels vs plain JS', () => {
  it('global norm over two ranges in two passes, and the clip coefficient of clip_grad_norm_', async () => {
    const ctx = device();
    const a = random(71, 10000);
    const b = random(72, 300);
    const pa = normPartials(a.length);
    const partial = { buffer: ctx.buffer('partial', (pa + normPartials(b.length)) * 4) };
    const out = { buffer: ctx.buffer('out', 8) };
    const expected = Math.sqrt([...a, ...b].reduce((s, v) => s + v * v, 0));
    for (const maxNorm of [0, 1, 1e9]) {
      await run(ctx, [
        globalNormPartial(ctx, 'norm.a', { n: a.length, x: { buffer: ctx.upload('a', a) }, partial, partialOffset: 0 }),
        globalNormPartial(ctx, 'norm.b', { n: b.length, x: { buffer: ctx.upload('b', b) }, partial, partialOffset: pa }),
        globalNormFinal(ctx, 'norm', { uniform: ctx.uniform('u', globalNormUniform(pa + normPartials(b.length), maxNorm)), partial, out }),
      ]);
      const [norm, clip] = await read(ctx, out.buffer, 2);
      expect(Math.abs(norm! - expected) / expected).toBeLessThan(1e-5);
      expect(clip).toBeCloseTo(maxNorm > 0 ? Math.min(1, maxNorm / (expected + 1e-6)) : 1, 6);
    }
  });

  it('AdamW: two steps with decay on one range and none on another, clipped gradients (torch.optim.AdamW)', async () => {
    const ctx = device();
    const n = 1024; // two ranges of 512: the second binding's byte offset is a multiple of 256, as WebGPU requires
    const p0 = random(73, n);
    const g1 = random(74, n);
    const g2 = random(75, n);
    const [lr, beta1, beta2, epsilon, weightDecay, clip] = [1e-2, 0.9, 0.999, 1e-8, 0.1, 0.5];
    const param = { buffer: ctx.upload('p', p0) };
    const m = { buffer: ctx.buffer('m', n * 4) };
    const v = { buffer: ctx.buffer('v', n * 4) };
    const grad = { buffer: ctx.buffer('g', n * 4) };
    const clipBuffer = { buffer: ctx.upload('clip', Float32Array.of(123, clip)) };
    const hyper = ctx.uniform('hyper', adamwHyper({ learningRate: lr, beta1, beta2, epsilon, weightDecay, step: 1 }));
    const half = n / 2;
    const commands = [
      adamwStep(ctx, 'adamw.decay', { n: half, decay: true, hyper, clip: clipBuffer, grad, param, m, v }),
      adamwStep(ctx, 'adamw.nodecay', {
        n: half, decay: false, hyper, clip: clipBuffer,
        grad: { ...grad, offset: half * 4 }, param: { ...param, offset: half * 4 }, m: { ...m, offset: half * 4 }, v: { ...v, offset: half * 4 },
      }),
    ];
    // reference state (float64)
    const p = Float64Array.from(p0);
    const mr = new Float64Array(n);
    const vr = new Float64Array(n);
    for (const [t, g] of [[1, g1], [2, g2]] as const) {
      ctx.write(grad.buffer, g);
      ctx.writeUniform(hyper, adamwHyper({ learningRate: lr, beta1, beta2, epsilon, weightDecay, step: t }));
      await run(ctx, commands);
      for (let i = 0; i < n; i += 1) {
        const gi = g[i]! * clip;
        if (i < half) p[i] = p[i]! * (1 - lr * weightDecay);
        mr[i] = beta1 * mr[i]! + (1 - beta1) * gi;
        vr[i] = beta2 * vr[i]! + (1 - beta2) * gi * gi;
        p[i] = p[i]! - (lr / (1 - beta1 ** t)) * (mr[i]! / (Math.sqrt(vr[i]!) / Math.sqrt(1 - beta2 ** t) + epsilon));
      }
    }
    expect(relativeError(await read(ctx, param.buffer, n), p)).toBeLessThan(1e-5);
    expect(relativeError(await read(ctx, m.buffer, n), mr)).toBeLessThan(1e-5);
    expect(relativeError(await read(ctx, v.buffer, n), vr)).toBeLessThan(1e-5);
  });

  it('lerp: dst ← α·src + (1 − α)·dst', async () => {
    const ctx = device();
    const src = random(76, 100);
    const dst0 = random(77, 100);
    const dst = { buffer: ctx.upload('dst', dst0) };
    await run(ctx, [lerp(ctx, 'lerp', { n: 100, alpha: 0.3, src: { buffer: ctx.upload('src', src) }, dst })]);
    expect(relativeError(await read(ctx, dst.buffer, 100), Float64Array.from(src, (s, i) => 0.3 * s + 0.7 * dst0[i]!))).toBeLessThan(1e-6);
  });
});
