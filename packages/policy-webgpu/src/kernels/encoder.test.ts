import { expect, it } from 'vitest';
import { describeGpu, device, random, read, relativeError, run } from '../__fixtures__/gpu-test-utils.js';
import { buildScatterPlan, encoderBackward, encoderForward } from './encoder.js';

describeGpu('embedding gather and scatter-add kernels vs plain JS', () => {
  const [tokens, c, vocab, maxPos] = [12, 10, 9, 16];
  const ids = Uint32Array.from([3, 1, 3, 8, 0, 3, 1, 5, 5, 2, 8, 3]);
  const pos = Uint32Array.from([0, 1, 2, 3, 4, 5, 1, 1, 2, 3, 4, 5]);
  const wte = random(31, vocab * c);
  const wpe = random(32, maxPos * c);

  it('forward: wte[ids] + wpe[pos], and wte[ids] alone', async () => {
    const ctx = device();
    const [bids, bpos, bwte, bwpe] = [ids, pos, wte, wpe].map((d, i) => ({ buffer: ctx.upload(`t${i}`, d) }));
    const out1 = { buffer: ctx.buffer('o1', tokens * c * 4) };
    const out2 = { buffer: ctx.buffer('o2', tokens * c * 4) };
    await run(ctx, [
      encoderForward(ctx, 'enc', { tokens, c, ids: bids!, wte: bwte!, positions: { ids: bpos!, wpe: bwpe! }, out: out1 }),
      encoderForward(ctx, 'enc2', { tokens, c, ids: bids!, wte: bwte!, out: out2 }),
    ]);
    const e1 = new Float64Array(tokens * c);
    const e2 = new Float64Array(tokens * c);
    for (let t = 0; t < tokens; t += 1) for (let j = 0; j < c; j += 1) {
      e2[t * c + j] = wte[ids[t]! * c + j]!;
      e1[t * c + j] = e2[t * c + j]! + wpe[pos[t]! * c + j]!;
    }
    expect(relativeError(await read(ctx, out1.buffer, tokens * c), e1)).toBeLessThan(1e-6);
    expect(relativeError(await read(ctx, out2.buffer, tokens * c), e2)).toBeLessThan(1e-6);
  });

  it('backward: deterministic scatter-add of repeated ids into an accumulating table gradient', async () => {
    const ctx = device();
    const dout = random(33, tokens * c);
    const init = random(34, vocab * c);
    const dwte = { buffer: ctx.upload('dwte', init) };
    const plan = buildScatterPlan(ids);
    expect(plan.length).toBe(3 * tokens + 2);
    expect(plan[0]).toBe(6); // distinct ids 0, 1, 2, 3, 5, 8
    const commands = [encoderBackward(ctx, 'enc.bwd', { tokens, c, plan: { buffer: ctx.upload('plan', plan) }, dout: { buffer: ctx.upload('dout', dout) }, dtable: dwte })];
    await run(ctx, commands);
    const expected = Float64Array.from(init);
    for (let t = 0; t < tokens; t += 1) for (let j = 0; j < c; j += 1) expected[ids[t]! * c + j]! += dout[t * c + j]!;
    const first = await read(ctx, dwte.buffer, vocab * c);
    expect(relativeError(first, expected)).toBeLessThan(1e-6);
    // Replaying gives bit-identical results (fixed summation order).
    ctx.write(dwte.buffer, init);
    await run(ctx, commands);
    expect(Array.from(await read(ctx, dwte.buffer, vocab * c))).toEqual(Array.from(first));
  });
});
