import { expect, it } from 'vitest';
import { describeGpu, device, dot, numericGradient, random, read, relativeError, run } from '../__fixtures__/gpu-test-utils.js';
import { ropeBackward, ropeForward, ropeInverseFrequencies, ropeTables } from './rope.js';

describeGpu('RoPE kernels vs plain JS (rotate-half convention)', () => {
  const [tokens, heads, kvHeads, d] = [5, 4, 2, 8];
  const width = (heads + 2 * kvHeads) * d;
  const positions = [0, 1, 2, 7, 30];
  const inv = ropeInverseFrequencies(d, 10000, { type: 'default', factor: 1, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 0 });
  const { cos, sin } = ropeTables(positions, inv);

  /** transformers: q·cos + rotate_half(q)·sin on the q and k heads; v untouched. */
  function ref([x]: Float64Array[]): Float64Array {
    const y = Float64Array.from(x!);
    const half = d / 2;
    for (let t = 0; t < tokens; t += 1) for (let h = 0; h < heads + kvHeads; h += 1) for (let i = 0; i < half; i += 1) {
      const base = t * width + h * d;
      const angle = Math.fround(positions[t]! * inv[i]!);
      const [x1, x2] = [x![base + i]!, x![base + half + i]!];
      y[base + i] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
      y[base + half + i] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
    }
    return y;
  }

  it('inverse frequencies are θ^(−2i/D)', () => {
    expect(inv[1]).toBeCloseTo(1 / Math.pow(10000, 2 / 8), 7);
  });

  it('forward rotates q and k heads in place; backward applies the transpose', async () => {
    const ctx = device();
    const x = random(41, tokens * width);
    const dy = random(42, tokens * width);
    const bx = { buffer: ctx.upload('x', x) };
    const bdy = { buffer: ctx.upload('dy', dy) };
    const args = { tokens, heads: heads + kvHeads, headDim: d, width, cos: { buffer: ctx.upload('cos', cos) }, sin: { buffer: ctx.upload('sin', sin) } };
    await run(ctx, [ropeForward(ctx, 'rope', { ...args, x: bx }), ropeBackward(ctx, 'rope.bwd', { ...args, x: bdy })]);
    expect(relativeError(await read(ctx, bx.buffer, tokens * width), ref([Float64Array.from(x)]))).toBeLessThan(1e-6);
    const grad = numericGradient((inputs) => dot(ref(inputs), dy), [x], 0);
    expect(relativeError(await read(ctx, bdy.buffer, tokens * width), grad)).toBeLessThan(1e-5);
  });
});
