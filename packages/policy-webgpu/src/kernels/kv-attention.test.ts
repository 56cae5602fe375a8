import { expect, it } from 'vitest';
import { describeGpu, device, random, read, relativeError, run } from '../__fixtures__/gpu-test-utils.js';
import { attentionForward } from './attention.js';
import { kvAttention } from './kv-attention.js';
import { kvCacheAppend, kvCacheFill } from './kv-cache.js';
import { ropeForward, ropeInverseFrequencies, ropeTables } from './rope.js';

describeGpu('KV-cache decode attention vs the full causal attention of the same positions', () => {
  const [heads, kvHeads, d] = [4, 2, 8];
  const width = (heads + 2 * kvHeads) * d;
  const inv = ropeInverseFrequencies(d, 10000, { type: 'default', factor: 1, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 0 });

  /**
   * B = 2 prompts (5 and 3 tokens, left-padded to Lp = 5), G = 2 sequences per prompt, 3 decode
   * steps with different new tokens per sequence: prefill (RoPE + fill), then per step append
   * (RoPE at the position) + one-query attention; each output row must equal the row of the full
   * attention (attention.ts, masked, over the whole left-padded sequence) at the same position.
   */
  for (const rope of [true, false]) {
    it(`prefill + 3 appended steps equal the full attention (${rope ? 'RoPE, GQA' : 'no RoPE'})`, async () => {
      const ctx = device();
      const [b, g, lp, steps] = [2, 2, 5, 3];
      const n = b * g;
      const s = lp + steps;
      const slots = s + 2; // spare slots: the stride must not matter
      const plen = [5, 3];
      const prompt = random(71, b * lp * width, -1.5, 1.5);
      const fresh = random(72, n * steps * width, -1.5, 1.5);
      // Full sequences [N, S, W] (unrotated), their mask and positions (cumsum − 1, 1 at padding).
      const full = new Float32Array(n * s * width);
      const mask = new Uint32Array(n * s);
      const pos = new Uint32Array(n * s).fill(1);
      for (let r = 0; r < n; r += 1) {
        const p = Math.floor(r / g);
        full.set(prompt.subarray(p * lp * width, (p + 1) * lp * width), r * s * width);
        for (let k = 0; k < steps; k += 1) full.set(fresh.subarray((k * n + r) * width, (k * n + r + 1) * width), (r * s + lp + k) * width);
        for (let j = 0; j < s; j += 1) {
          mask[r * s + j] = j >= lp - plen[p]! ? 1 : 0;
          if (mask[r * s + j]) pos[r * s + j] = j - (lp - plen[p]!);
        }
      }
      // Reference: RoPE on every row, then the full attention.
      const bfull = { buffer: ctx.upload('full', full) };
      const refOut = { buffer: ctx.buffer('ref.out', n * s * heads * d * 4) };
      const lse = { buffer: ctx.buffer('ref.lse', n * heads * s * 4) };
      const fullTables = ropeTables(pos, inv);
      await run(ctx, [
        ...(rope ? [ropeForward(ctx, 'ref.rope', { tokens: n * s, heads: heads + kvHeads, headDim: d, width, cos: { buffer: ctx.upload('c', fullTables.cos) }, sin: { buffer: ctx.upload('s', fullTables.sin) }, x: bfull })] : []),
        attentionForward(ctx, 'ref.attn', { batch: n, seq: s, heads, kvHeads, headDim: d, qkv: bfull, mask: { buffer: ctx.upload('mask', mask) }, out: refOut, lse }),
      ]);
      const expected = await read(ctx, refOut.buffer, n * s * heads * d);

      // Cached path.
      const shape = { sequences: n, heads, kvHeads, headDim: d, promptSlots: lp, slots };
      const promptPos = new Uint32Array(b * lp).fill(1);
      for (let p = 0; p < b; p += 1) for (let j = lp - plen[p]!; j < lp; j += 1) promptPos[p * lp + j] = j - (lp - plen[p]!);
      const promptTables = ropeTables(promptPos, inv);
      const decodeTables = ropeTables(Array.from({ length: slots }, (_, i) => i), inv);
      const bprompt = { buffer: ctx.upload('prompt', prompt) };
      const k = { buffer: ctx.upload('k', random(73, n * kvHeads * slots * d)) }; // garbage outside the written slots
      const v = { buffer: ctx.upload('v', random(74, n * kvHeads * slots * d)) };
      await run(ctx, [
        ...(rope ? [ropeForward(ctx, 'rope', { tokens: b * lp, heads: heads + kvHeads, headDim: d, width, cos: { buffer: ctx.upload('pc', promptTables.cos) }, sin: { buffer: ctx.upload('ps', promptTables.sin) }, x: bprompt })] : []),
        kvCacheFill(ctx, 'fill', { ...shape, group: g, qkv: bprompt, k, v }),
      ]);
      const state = { buffer: ctx.buffer('state', 16) };
      const positions = { buffer: ctx.buffer('pos', n * 4) };
      const qkv = { buffer: ctx.buffer('qkv', n * width * 4) };
      const out = { buffer: ctx.buffer('out', n * heads * d * 4) };
      const lengths = { buffer: ctx.upload('plen', Uint32Array.from({ length: n }, (_, r) => plen[Math.floor(r / g)]!)) };
      const tables = rope ? { cos: { buffer: ctx.upload('dc', decodeTables.cos) }, sin: { buffer: ctx.upload('ds', decodeTables.sin) } } : null;
      const commands = [
        kvCacheAppend(ctx, 'append', { ...shape, state, positions, rope: tables, qkv, k, v }),
        kvAttention(ctx, 'attend', { ...shape, state, promptLengths: lengths, qkv, k, v, out }),
      ];
      for (let step = 0; step < steps; step += 1) {
        ctx.write(state.buffer, Uint32Array.of(step + 1, 0, 0, 0));
        ctx.write(positions.buffer, Uint32Array.from({ length: n }, (_, r) => plen[Math.floor(r / g)]! + step));
        ctx.write(qkv.buffer, fresh.subarray(step * n * width, (step + 1) * n * width));
        await run(ctx, commands);
        const got = await read(ctx, out.buffer, n * heads * d);
        const want = new Float32Array(n * heads * d);
        for (let r = 0; r < n; r += 1) want.set(expected.subarray((r * s + lp + step) * heads * d, (r * s + lp + step + 1) * heads * d), r * heads * d);
        expect(relativeError(got, want)).toBeLessThan(1e-5);
      }
    });
  }

  it('a context longer than one 1,024-slot chunk (online softmax across chunks) equals plain JS', async () => {
    const ctx = device();
    const [lp, plen, dd, h] = [1300, 1250, 16, 2];
    const w = 3 * h * dd;
    const slots = lp + 1;
    const k = random(81, h * slots * dd, -2, 2);
    // Larger keys in the second chunk: its maximum exceeds the first chunk's, so the running
    // softmax must rescale what the first chunk accumulated.
    for (let head = 0; head < h; head += 1) for (let j = 1100; j < slots; j += 1) for (let e = 0; e < dd; e += 1) k[(head * slots + j) * dd + e] *= 3;
    const v = random(82, h * slots * dd);
    const qkv = random(83, w);
    const shape = { sequences: 1, heads: h, kvHeads: h, headDim: dd, promptSlots: lp, slots };
    const out = { buffer: ctx.buffer('out', h * dd * 4) };
    // step 1: the query attends to slots lp − plen … lp (the last one holds the appended key).
    await run(ctx, [
      kvAttention(ctx, 'attend', { ...shape, state: { buffer: ctx.upload('state', Uint32Array.of(1, 0, 0, 0)) }, promptLengths: { buffer: ctx.upload('plen', Uint32Array.of(plen)) }, qkv: { buffer: ctx.upload('qkv', qkv) }, k: { buffer: ctx.upload('k', k) }, v: { buffer: ctx.upload('v', v) }, out }),
    ]);
    const want = new Float64Array(h * dd);
    for (let head = 0; head < h; head += 1) {
      const scores: number[] = [];
      for (let j = lp - plen; j <= lp; j += 1) {
        let dot = 0;
        for (let e = 0; e < dd; e += 1) dot += qkv[head * dd + e]! * k[(head * slots + j) * dd + e]!;
        scores.push(dot / Math.sqrt(dd));
      }
      const m = Math.max(...scores);
      const z = scores.reduce((a, x) => a + Math.exp(x - m), 0);
      scores.forEach((x, i) => {
        const j = lp - plen + i;
        for (let e = 0; e < dd; e += 1) want[head * dd + e]! += (Math.exp(x - m) / z) * v[(head * slots + j) * dd + e]!;
      });
    }
    expect(relativeError(await read(ctx, out.buffer, h * dd), want)).toBeLessThan(1e-5);
  });
});
