import { expect, it } from 'vitest';
import { describeGpu, device, random, read, relativeError, run } from '../__fixtures__/gpu-test-utils.js';
import { biasGrad, matmul } from './matmul.js';

/** Plain-JS reference: C[i, j] = Σ_k A(i, k)·B(k, j) through accessor functions. */
function reference(m: number, n: number, k: number, a: (i: number, k: number) => number, b: (k: number, j: number) => number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i += 1) for (let j = 0; j < n; j += 1) {
    let s = 0;
    for (let kk = 0; kk < k; kk += 1) s += a(i, kk) * b(kk, j);
    c[i * n + j] = s;
  }
  return c;
}

describeGpu('matmul kernels vs plain JS', () => {
  const [m, n, k] = [70, 67, 33];
  const x = random(1, m * k);
  const w = random(2, k * n); // Conv1D layout [in=k, out=n]
  const wt = random(3, n * k); // Linear layout [out=n, in=k]
  const bias = random(4, n);

  it('Y = X·W + b (Conv1D) and Y = X·Wᵀ (Linear)', async () => {
    const ctx = device();
    const [bx, bw, bwt, bb] = [x, w, wt, bias].map((d, i) => ctx.upload(`in${i}`, d));
    const y1 = ctx.buffer('y1', m * n * 4);
    const y2 = ctx.buffer('y2', m * n * 4);
    await run(ctx, [
      matmul(ctx, 'conv1d', { m, n, k, a: { slice: { buffer: bx! }, rowStride: k, colStride: 1 }, b: { slice: { buffer: bw! }, rowStride: n, colStride: 1 }, c: { slice: { buffer: y1 } }, bias: { slice: { buffer: bb! } } }),
      matmul(ctx, 'linear', { m, n, k, a: { slice: { buffer: bx! }, rowStride: k, colStride: 1 }, b: { slice: { buffer: bwt! }, rowStride: 1, colStride: k }, c: { slice: { buffer: y2 } } }),
    ]);
    const e1 = reference(m, n, k, (i, kk) => x[i * k + kk]!, (kk, j) => w[kk * n + j]!).map((v, i) => v + bias[i % n]!);
    const e2 = reference(m, n, k, (i, kk) => x[i * k + kk]!, (kk, j) => wt[j * k + kk]!);
    expect(relativeError(await read(ctx, y1, m * n), e1)).toBeLessThan(1e-5);
    expect(relativeError(await read(ctx, y2, m * n), e2)).toBeLessThan(1e-5);
  });

  it('backward products: dX = dY·Wᵀ, dW += Xᵀ·dY (accumulating), db += Σ dY; offsets and row strides', async () => {
    const ctx = device();
    const dy = random(5, m * n);
    const [bx, bw, bdy] = [x, w, dy].map((d, i) => ctx.upload(`in${i}`, d));
    const dx = ctx.buffer('dx', m * (k + 5) * 4); // written at column offset 3 of rows of width k + 5
    const dwInit = random(6, k * n);
    const dw = ctx.upload('dw', dwInit);
    const dbInit = random(7, n);
    const db = ctx.upload('db', dbInit);
    await run(ctx, [
      matmul(ctx, 'dx', { m, n: k, k: n, a: { slice: { buffer: bdy! }, rowStride: n, colStride: 1 }, b: { slice: { buffer: bw! }, rowStride: 1, colStride: n }, c: { slice: { buffer: dx }, offset: 3, ldc: k + 5 } }),
      matmul(ctx, 'dw', { m: k, n, k: m, a: { slice: { buffer: bx! }, rowStride: 1, colStride: k }, b: { slice: { buffer: bdy! }, rowStride: n, colStride: 1 }, c: { slice: { buffer: dw } }, accumulate: true }),
      ...biasGrad(ctx, 'db', { m, n, dy: { slice: { buffer: bdy! } }, db: { slice: { buffer: db } }, scratch: { buffer: ctx.buffer('scratch', Math.ceil(m / 64) * n * 4) } }), // 2 chunks of rows
    ]);
    const eDx = reference(m, k, n, (i, j) => dy[i * n + j]!, (j, kk) => w[kk * n + j]!);
    const gotDx = await read(ctx, dx, m * (k + 5));
    const dxValues = new Float32Array(m * k);
    for (let i = 0; i < m; i += 1) for (let j = 0; j < k; j += 1) dxValues[i * k + j] = gotDx[i * (k + 5) + 3 + j]!;
    expect(relativeError(dxValues, eDx)).toBeLessThan(1e-5);
    const eDw = reference(k, n, m, (kk, i) => x[i * k + kk]!, (i, j) => dy[i * n + j]!).map((v, i) => v + dwInit[i]!);
    expect(relativeError(await read(ctx, dw, k * n), eDw)).toBeLessThan(1e-5);
    const eDb = new Float64Array(n).map((_, j) => dbInit[j]! + Array.from({ length: m }, (_, i) => dy[i * n + j]!).reduce((a, b) => a + b, 0));
    expect(relativeError(await read(ctx, db, n), eDb)).toBeLessThan(1e-5);
  });

  it('large K and several tiles in both directions (M = 130, N = 129, K = 300)', async () => {
    const ctx = device();
    const [mm, nn, kk] = [130, 129, 300];
    const a = random(8, mm * kk);
    const b = random(9, kk * nn);
    const c = ctx.buffer('c', mm * nn * 4);
    await run(ctx, [
      matmul(ctx, 'big', { m: mm, n: nn, k: kk, a: { slice: { buffer: ctx.upload('a', a) }, rowStride: kk, colStride: 1 }, b: { slice: { buffer: ctx.upload('b', b) }, rowStride: nn, colStride: 1 }, c: { slice: { buffer: c } }, alpha: 0.5 }),
    ]);
    const e = reference(mm, nn, kk, (i, q) => a[i * kk + q]!, (q, j) => b[q * nn + j]!).map((v) => v * 0.5);
    expect(relativeError(await read(ctx, c, mm * nn), e)).toBeLessThan(1e-5);
  });
});
