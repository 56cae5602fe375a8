import { expect, it } from 'vitest';
import { describeGpu, device, dot, numericGradient, random, read, relativeError, run } from '../__fixtures__/gpu-test-utils.js';
import { classifierBackward, classifierForward, gatherRows, scatterRows } from './classifier.js';

describeGpu('fused classifier and row gather kernels vs plain JS', () => {
  const [rows, vocab] = [5, 300];
  const targets = Uint32Array.from([0, 299, 17, 17, 150]);

  function logSoftmaxRow(x: ArrayLike<number>, r: number, invT: number): Float64Array {
    const z = Float64Array.from({ length: vocab }, (_, v) => x[r * vocab + v]! * invT);
    const m = Math.max(...z);
    const lse = m + Math.log(z.reduce((a, v) => a + Math.exp(v - m), 0));
    return z.map((v) => v - lse);
  }

  for (const temperature of [1, 0.7]) {
    it(`log-prob of the target and entropy, and dlogits in place (T = ${temperature})`, async () => {
      const ctx = device();
      const logits = random(61, rows * vocab, -6, 6);
      const g = random(62, rows);
      const invT = { buffer: ctx.upload('invT', Float32Array.of(1 / temperature)) };
      const blogits = { buffer: ctx.upload('logits', logits) };
      const bt = { buffer: ctx.upload('t', targets) };
      const out = { buffer: ctx.buffer('out', rows * 12) };
      await run(ctx, [classifierForward(ctx, 'cls', { rows, vocab, logits: blogits, targets: bt, invTemperature: invT, out })]);
      const got = await read(ctx, out.buffer, rows * 3);
      const logp = new Float64Array(rows);
      const entropy = new Float64Array(rows);
      for (let r = 0; r < rows; r += 1) {
        const ls = logSoftmaxRow(logits, r, 1 / temperature);
        logp[r] = ls[targets[r]!]!;
        entropy[r] = -ls.reduce((a, l) => a + Math.exp(l) * l, 0);
      }
      expect(relativeError(got.filter((_, i) => i % 3 === 0), logp)).toBeLessThan(1e-5);
      expect(relativeError(got.filter((_, i) => i % 3 === 1), entropy)).toBeLessThan(1e-5);
      await run(ctx, [classifierBackward(ctx, 'cls.bwd', { rows, vocab, logits: blogits, targets: bt, invTemperature: invT, stats: out, gradLogProbs: { buffer: ctx.upload('g', g) } })]);
      const loss = ([x]: Float64Array[]) => dot(Float64Array.from({ length: rows }, (_, r) => logSoftmaxRow(x!, r, 1 / temperature)[targets[r]!]!), g);
      const grad = numericGradient(loss, [logits], 0);
      expect(relativeError(await read(ctx, blogits.buffer, rows * vocab), grad)).toBeLessThan(1e-5);
    });
  }

  it('gatherRows selects rows; scatterRows puts them back', async () => {
    const ctx = device();
    const [all, c] = [7, 5];
    const h = random(63, all * c);
    const index = Uint32Array.from([6, 2, 3]);
    const bidx = { buffer: ctx.upload('idx', index) };
    const sel = { buffer: ctx.buffer('sel', 3 * c * 4) };
    const back = { buffer: ctx.buffer('back', all * c * 4) };
    await run(ctx, [
      gatherRows(ctx, 'gather', { rows: 3, c, index: bidx, src: { buffer: ctx.upload('h', h) }, dst: sel }),
      scatterRows(ctx, 'scatter', { rows: 3, c, index: bidx, src: sel, dst: back }),
    ]);
    const expected = Array.from(index).flatMap((r) => Array.from(h.subarray(r * c, (r + 1) * c)));
    expect(Array.from(await read(ctx, sel.buffer, 3 * c))).toEqual(expected);
    const scattered = new Float32Array(all * c);
    index.forEach((r) => scattered.set(h.subarray(r * c, (r + 1) * c), r * c));
    expect(Array.from(await read(ctx, back.buffer, all * c))).toEqual(Array.from(scattered));
  });
});
