import { expect, it } from 'vitest';
import { describeGpu, device, dot, numericGradient, random, read, relativeError, run } from '../__fixtures__/gpu-test-utils.js';
import { geluBackward, geluForward } from './gelu.js';
import { swigluBackward, swigluForward } from './swiglu.js';

const rows = 6;

/** HF `gelu_new` in float64. */
function geluNew(h: number): number {
  return 0.5 * h * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (h + 0.044715 * h ** 3)));
}

describeGpu('fused bias+GELU and SwiGLU kernels vs plain JS', () => {
  it('bias + gelu_new forward and backward, including large |x| (no NaN)', async () => {
    const ctx = device();
    const n = 37;
    const x = random(21, rows * n, -4, 4);
    x[0] = 30;
    x[1] = -30;
    const b = random(22, n);
    const dy = random(23, rows * n);
    const ref = ([xs, bs]: Float64Array[]) => Float64Array.from(xs!, (v, i) => geluNew(v + bs![i % n]!));
    const bx = { buffer: ctx.upload('x', x) };
    const bb = { buffer: ctx.upload('b', b) };
    const y = { buffer: ctx.buffer('y', rows * n * 4) };
    const dx = { buffer: ctx.buffer('dx', rows * n * 4) };
    await run(ctx, [
      geluForward(ctx, 'gelu', { rows, n, x: bx, bias: bb, y }),
      geluBackward(ctx, 'gelu.bwd', { rows, n, x: bx, bias: bb, dy: { buffer: ctx.upload('dy', dy) }, dx }),
    ]);
    expect(relativeError(await read(ctx, y.buffer, rows * n), ref([x, b].map((a) => Float64Array.from(a))))).toBeLessThan(1e-5);
    const grad = numericGradient((inputs) => dot(ref(inputs), dy), [x, b], 0);
    expect(relativeError(await read(ctx, dx.buffer, rows * n), grad)).toBeLessThan(1e-5);
  });

  it('silu(gate)·up forward and backward on the packed gate|up layout', async () => {
    const ctx = device();
    const m = 19;
    const gu = random(24, rows * 2 * m, -5, 5);
    const dy = random(25, rows * m);
    const ref = ([g]: Float64Array[]) => {
      const out = new Float64Array(rows * m);
      for (let r = 0; r < rows; r += 1) for (let j = 0; j < m; j += 1) {
        const gate = g![r * 2 * m + j]!;
        out[r * m + j] = (gate / (1 + Math.exp(-gate))) * g![r * 2 * m + m + j]!;
      }
      return out;
    };
    const bgu = { buffer: ctx.upload('gu', gu) };
    const y = { buffer: ctx.buffer('y', rows * m * 4) };
    const dgu = { buffer: ctx.buffer('dgu', rows * 2 * m * 4) };
    await run(ctx, [
      swigluForward(ctx, 'swiglu', { rows, m, gu: bgu, y }),
      swigluBackward(ctx, 'swiglu.bwd', { rows, m, gu: bgu, dy: { buffer: ctx.upload('dy', dy) }, dgu }),
    ]);
    expect(relativeError(await read(ctx, y.buffer, rows * m), ref([Float64Array.from(gu)]))).toBeLessThan(1e-5);
    const grad = numericGradient((inputs) => dot(ref(inputs), dy), [gu], 0);
    expect(relativeError(await read(ctx, dgu.buffer, rows * 2 * m), grad)).toBeLessThan(1e-5);
  });
});
