import { expect, it } from 'vitest';
import { describeGpu, device, dot, numericGradient, random, read, relativeError, run } from '../__fixtures__/gpu-test-utils.js';
import { attentionBackward, attentionBackwardScratchFloats, attentionForward } from './attention.js';

for (const [heads, kvHeads] of [
  [4, 2],
  [6, 2],
  [4, 4],
] as const) describeGpu(`fused causal attention kernels vs plain JS (padding mask; ${heads} query heads on ${kvHeads} kv heads)`, () => {
  const [batch, seq, d] = [2, 6, 8];
  const width = (heads + 2 * kvHeads) * d;
  // Row 0: all tokens; row 1: two left-padding tokens and one right-padding token.
  const mask = Uint32Array.from([1, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1, 0]);
  const scale = 1 / Math.sqrt(d);

  /** Softmax attention in float64: causal, masked keys excluded, GQA by h / (H / Hkv); no visible key → 0. */
  function ref([qkv]: Float64Array[]): Float64Array {
    const out = new Float64Array(batch * seq * heads * d);
    for (let b = 0; b < batch; b += 1) for (let h = 0; h < heads; h += 1) for (let i = 0; i < seq; i += 1) {
      const g = Math.floor(h / (heads / kvHeads));
      const q = (b * seq + i) * width + h * d;
      const scores: number[] = [];
      const keys: number[] = [];
      for (let j = 0; j <= i; j += 1) {
        if (!mask[b * seq + j]) continue;
        const k = (b * seq + j) * width + (heads + g) * d;
        let s = 0;
        for (let e = 0; e < d; e += 1) s += qkv![q + e]! * qkv![k + e]!;
        scores.push(s * scale);
        keys.push(j);
      }
      if (keys.length === 0) continue;
      const m = Math.max(...scores);
      const weights = scores.map((s) => Math.exp(s - m));
      const z = weights.reduce((a, w) => a + w, 0);
      keys.forEach((j, n) => {
        const v = (b * seq + j) * width + (heads + kvHeads + g) * d;
        for (let e = 0; e < d; e += 1) out[(b * seq + i) * heads * d + h * d + e]! += (weights[n]! / z) * qkv![v + e]!;
      });
    }
    return out;
  }

  it('forward and backward (dq, dk, dv with the GQA group sum)', async () => {
    const ctx = device();
    const qkv = random(51, batch * seq * width, -1.5, 1.5);
    const dout = random(52, batch * seq * heads * d);
    const shape = { batch, seq, heads, kvHeads, headDim: d };
    const bqkv = { buffer: ctx.upload('qkv', qkv) };
    const bmask = { buffer: ctx.upload('mask', mask) };
    const out = { buffer: ctx.buffer('out', dout.length * 4) };
    const lse = { buffer: ctx.buffer('lse', batch * heads * seq * 4) };
    const delta = { buffer: ctx.buffer('delta', batch * heads * seq * 4) };
    const dqkv = { buffer: ctx.upload('dqkv', random(53, qkv.length)) }; // garbage: every element must be overwritten
    const scratchFloats = attentionBackwardScratchFloats(shape);
    expect(scratchFloats).toBe(heads > kvHeads ? 2 * batch * seq * heads * d : 0);
    const kvScratch = scratchFloats > 0 ? { buffer: ctx.upload('kv.scratch', random(54, scratchFloats)) } : undefined;
    await run(ctx, [
      attentionForward(ctx, 'attn', { ...shape, qkv: bqkv, mask: bmask, out, lse }),
      ...attentionBackward(ctx, 'attn.bwd', { ...shape, qkv: bqkv, mask: bmask, out, dout: { buffer: ctx.upload('dout', dout) }, lse, delta, dqkv, ...(kvScratch ? { kvScratch } : {}) }),
    ]);
    expect(relativeError(await read(ctx, out.buffer, dout.length), ref([Float64Array.from(qkv)]))).toBeLessThan(1e-5);
    const grad = numericGradient((inputs) => dot(ref(inputs), dout), [qkv], 0);
    expect(relativeError(await read(ctx, dqkv.buffer, qkv.length), grad)).toBeLessThan(1e-5);
  });

  it('needs the scratch with grouped-query attention and names its size', () => {
    const ctx = device();
    const shape = { batch, seq, heads, kvHeads, headDim: d };
    const slice = (name: string, floats: number) => ({ buffer: ctx.buffer(name, floats * 4) });
    const call = () =>
      attentionBackward(ctx, 'attn.bwd', { ...shape, qkv: slice('q', batch * seq * width), mask: slice('m', batch * seq), out: slice('o', batch * seq * heads * d), dout: slice('do', batch * seq * heads * d), lse: slice('l', batch * heads * seq), delta: slice('dl', batch * heads * seq), dqkv: slice('dq', batch * seq * width) });
    if (heads > kvHeads) expect(call).toThrow(new RegExp(`needs kvScratch of ${2 * batch * seq * heads * d} floats`));
    else expect(call()).toHaveLength(2);
  });
});
