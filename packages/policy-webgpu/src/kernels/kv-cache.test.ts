import { expect, it } from 'vitest';
import { describeGpu, device, random, read, run } from '../__fixtures__/gpu-test-utils.js';
import { kvCacheAppend, kvCacheFill } from './kv-cache.js';
import { ropeInverseFrequencies, ropeTables } from './rope.js';

describeGpu('KV-cache fill and append kernels vs plain JS (layout [N, Hkv, Smax, D])', () => {
  const [heads, kvHeads, d, lp, slots, b, g] = [4, 2, 8, 3, 6, 2, 3];
  const n = b * g;
  const width = (heads + 2 * kvHeads) * d;
  const half = d / 2;
  const at = (r: number, h: number, j: number, e: number) => ((r * kvHeads + h) * slots + j) * d + e;

  it('fill copies the prompt rows of prompt ⌊r / G⌋ into slots 0 … Lp − 1; append rotates q and k at the position and writes slot Lp + step − 1', async () => {
    const ctx = device();
    const prompt = random(91, b * lp * width);
    const fresh = random(92, n * width);
    const shape = { sequences: n, heads, kvHeads, headDim: d, promptSlots: lp, slots };
    const k = { buffer: ctx.buffer('k', n * kvHeads * slots * d * 4) };
    const v = { buffer: ctx.buffer('v', n * kvHeads * slots * d * 4) };
    const qkv = { buffer: ctx.upload('qkv', fresh) };
    const positions = Uint32Array.from({ length: n }, (_, r) => 2 * r + 1);
    const inv = ropeInverseFrequencies(d, 10000, { type: 'default', factor: 1, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 0 });
    const tables = ropeTables(Array.from({ length: 2 * n + 1 }, (_, i) => i), inv);
    const step = 2;
    await run(ctx, [
      kvCacheFill(ctx, 'fill', { ...shape, group: g, qkv: { buffer: ctx.upload('prompt', prompt) }, k, v }),
      kvCacheAppend(ctx, 'append', {
        ...shape,
        state: { buffer: ctx.upload('state', Uint32Array.of(step, 0, 0, 0)) },
        positions: { buffer: ctx.upload('pos', positions) },
        rope: { cos: { buffer: ctx.upload('cos', tables.cos) }, sin: { buffer: ctx.upload('sin', tables.sin) } },
        qkv,
        k,
        v,
      }),
    ]);
    const [gotK, gotV, gotQ] = [await read(ctx, k.buffer, n * kvHeads * slots * d), await read(ctx, v.buffer, n * kvHeads * slots * d), await read(ctx, qkv.buffer, n * width)];
    const rotate = (x: Float32Array, base: number, pos: number) =>
      Array.from({ length: d }, (_, e) => {
        const i = e % half;
        const angle = Math.fround(pos * inv[i]!);
        const [x1, x2] = [x[base + i]!, x[base + half + i]!];
        return e < half ? x1 * Math.cos(angle) - x2 * Math.sin(angle) : x2 * Math.cos(angle) + x1 * Math.sin(angle);
      });
    let worst = 0;
    const cmp = (a: number, e: number) => (worst = Math.max(worst, Math.abs(a - e)));
    for (let r = 0; r < n; r += 1) {
      const p = Math.floor(r / g);
      for (let h = 0; h < kvHeads; h += 1) {
        for (let j = 0; j < lp; j += 1) {
          for (let e = 0; e < d; e += 1) {
            cmp(gotK[at(r, h, j, e)]!, prompt[(p * lp + j) * width + (heads + h) * d + e]!);
            cmp(gotV[at(r, h, j, e)]!, prompt[(p * lp + j) * width + (heads + kvHeads + h) * d + e]!);
          }
        }
        const slot = lp + step - 1;
        rotate(fresh, r * width + (heads + h) * d, positions[r]!).forEach((x, e) => cmp(gotK[at(r, h, slot, e)]!, x));
        for (let e = 0; e < d; e += 1) cmp(gotV[at(r, h, slot, e)]!, fresh[r * width + (heads + kvHeads + h) * d + e]!);
      }
      for (let h = 0; h < heads; h += 1) rotate(fresh, r * width + h * d, positions[r]!).forEach((x, e) => cmp(gotQ[r * width + h * d + e]!, x));
      // k and v heads of the qkv rows are left as they were
      for (let c = heads * d; c < width; c += 1) cmp(gotQ[r * width + c]!, fresh[r * width + c]!);
    }
    expect(worst).toBeLessThan(1e-6);
  });
});
