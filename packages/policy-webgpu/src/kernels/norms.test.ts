import { expect, it } from 'vitest';
import { add, describeGpu, device, dot, numericGradient, random, read, relativeError, run } from '../__fixtures__/gpu-test-utils.js';
import { layerNormBackward, layerNormForward } from './layernorm.js';
import { rmsNormBackward, rmsNormForward } from './rmsnorm.js';

const eps = 1e-5;

/** Plain-JS LayerNorm forward (float64). */
function layerNormRef(rows: number, c: number, [x, w, b]: Float64Array[]): Float64Array {
  const y = new Float64Array(rows * c);
  for (let r = 0; r < rows; r += 1) {
    const row = x!.subarray(r * c, (r + 1) * c);
    const mean = row.reduce((a, v) => a + v, 0) / c;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / c;
    const rstd = 1 / Math.sqrt(variance + eps);
    for (let j = 0; j < c; j += 1) y[r * c + j] = (row[j]! - mean) * rstd * w![j]! + b![j]!;
  }
  return y;
}

/** Plain-JS RMSNorm forward (float64). */
function rmsNormRef(rows: number, c: number, [x, w]: Float64Array[]): Float64Array {
  const y = new Float64Array(rows * c);
  for (let r = 0; r < rows; r += 1) {
    const row = x!.subarray(r * c, (r + 1) * c);
    const rstd = 1 / Math.sqrt(row.reduce((a, v) => a + v * v, 0) / c + eps);
    for (let j = 0; j < c; j += 1) y[r * c + j] = w![j]! * row[j]! * rstd;
  }
  return y;
}

// [5, 70]: rows wider than a workgroup; [130, 9]: three 64-row chunks in the parameter gradients.
for (const [rows, c] of [[5, 70], [130, 9]] as const) {
describeGpu(`layer norm and RMS norm kernels vs plain JS (${rows} rows × ${c})`, () => {
  const x = random(11, rows * c, -2, 3);
  const w = random(12, c, 0.5, 1.5);
  const b = random(13, c);
  const dy = random(14, rows * c);
  const dxInit = random(15, rows * c);
  const dwInit = random(16, c);
  const dbInit = random(17, c);

  it('LayerNorm forward and backward (dx added, dw and db accumulated)', async () => {
    const ctx = device();
    const buf = (d: Float32Array, name: string) => ({ buffer: ctx.upload(name, d) });
    const [bx, bw, bb, bdy, bdx, bdw, bdb] = [x, w, b, dy, dxInit, dwInit, dbInit].map((d, i) => buf(d, `t${i}`));
    const y = { buffer: ctx.buffer('y', rows * c * 4) };
    const stats = { buffer: ctx.buffer('stats', rows * 8) };
    const scratch = { buffer: ctx.buffer('scratch', Math.ceil(rows / 64) * 2 * c * 4) };
    await run(ctx, [
      layerNormForward(ctx, 'ln', { rows, c, eps, x: bx!, weight: bw!, bias: bb!, y, stats }),
      ...layerNormBackward(ctx, 'ln.bwd', { rows, c, x: bx!, weight: bw!, dy: bdy!, stats, dx: bdx!, dweight: bdw!, dbias: bdb!, scratch }),
    ]);
    expect(relativeError(await read(ctx, y.buffer, rows * c), layerNormRef(rows, c, [x, w, b].map((a) => Float64Array.from(a))))).toBeLessThan(1e-5);
    const loss = (inputs: Float64Array[]) => dot(layerNormRef(rows, c, inputs), dy);
    expect(relativeError(await read(ctx, bdx!.buffer, rows * c), add(dxInit, numericGradient(loss, [x, w, b], 0)))).toBeLessThan(1e-5);
    expect(relativeError(await read(ctx, bdw!.buffer, c), add(dwInit, numericGradient(loss, [x, w, b], 1)))).toBeLessThan(1e-5);
    expect(relativeError(await read(ctx, bdb!.buffer, c), add(dbInit, numericGradient(loss, [x, w, b], 2)))).toBeLessThan(1e-5);
  });

  it('RMSNorm forward and backward (dx added, dw accumulated)', async () => {
    const ctx = device();
    const buf = (d: Float32Array, name: string) => ({ buffer: ctx.upload(name, d) });
    const [bx, bw, bdy, bdx, bdw] = [x, w, dy, dxInit, dwInit].map((d, i) => buf(d, `t${i}`));
    const y = { buffer: ctx.buffer('y', rows * c * 4) };
    const rstd = { buffer: ctx.buffer('rstd', rows * 4) };
    const scratch = { buffer: ctx.buffer('scratch', Math.ceil(rows / 64) * c * 4) };
    await run(ctx, [
      rmsNormForward(ctx, 'rms', { rows, c, eps, x: bx!, weight: bw!, y, rstd }),
      ...rmsNormBackward(ctx, 'rms.bwd', { rows, c, x: bx!, weight: bw!, dy: bdy!, rstd, dx: bdx!, dweight: bdw!, scratch }),
    ]);
    expect(relativeError(await read(ctx, y.buffer, rows * c), rmsNormRef(rows, c, [x, w].map((a) => Float64Array.from(a))))).toBeLessThan(1e-5);
    const loss = (inputs: Float64Array[]) => dot(rmsNormRef(rows, c, inputs), dy);
    expect(relativeError(await read(ctx, bdx!.buffer, rows * c), add(dxInit, numericGradient(loss, [x, w], 0)))).toBeLessThan(1e-5);
    expect(relativeError(await read(ctx, bdw!.buffer, c), add(dwInit, numericGradient(loss, [x, w], 1)))).toBeLessThan(1e-5);
  });
});
}
