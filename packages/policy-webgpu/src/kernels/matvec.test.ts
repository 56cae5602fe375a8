import { expect, it } from 'vitest';
import { PolicyWebGpuError } from '../errors.js';
import type { Command } from '../gpu.js';
import { describeGpu, device, random, read, relativeError, run } from '../__fixtures__/gpu-test-utils.js';
import { matmul, type MatmulArgs } from './matmul.js';
import { MATVEC_MAX_ROWS, matvec } from './matvec.js';

/** One product: Y[M, N] (+)= α·X·W (+ bias) with W in one of the decode layouts. */
interface Case {
  m: number;
  n: number;
  k: number;
  /** 'linear': W(k, o) at wOffset + o·ldw + k ([out, in]); 'conv1d': at wOffset + k·ldw + o ([in, out]). */
  layout: 'linear' | 'conv1d';
  /** Leading stride of W (default: k for linear, n for conv1d). */
  ldw?: number;
  /** Element offset of W inside its binding (default 0). */
  wOffset?: number;
  /** W's binding starts at this byte offset of a larger buffer and has exactly the view's size (as paramSlice). */
  bindAt?: number;
  /** X: element (i, k) at xOffset + i·xRow + k·xCol (default: row-major [M, K]). */
  xRow?: number;
  xCol?: number;
  xOffset?: number;
  /** Y row stride and offset (default n, 0). */
  ldc?: number;
  cOffset?: number;
  bias?: boolean;
  accumulate?: boolean;
  alpha?: number;
  /** The W binding the launcher must pick. */
  vec4: boolean;
}

/** Run matvec and matmul on the same views; return both results and the float64 reference. */
async function product(c: Case, seed: number): Promise<{ got: Float32Array; tiled: Float32Array; expected: Float64Array; label: string }> {
  const ctx = device();
  const ldw = c.ldw ?? (c.layout === 'linear' ? c.k : c.n);
  const wOffset = c.wOffset ?? 0;
  const wCount = wOffset + (c.layout === 'linear' ? (c.n - 1) * ldw + c.k : (c.k - 1) * ldw + c.n);
  const w = random(seed, wCount);
  // NaN wherever the view does not reach (offset, row padding): an unmasked read of it shows
  for (let e = 0; e < wCount; e += 1) {
    const rel = e - wOffset;
    const inner = c.layout === 'linear' ? rel % ldw < c.k : rel % ldw < c.n;
    if (rel < 0 || !inner) w[e] = Number.NaN;
  }
  const wAt = (kk: number, o: number) => w[wOffset + (c.layout === 'linear' ? o * ldw + kk : kk * ldw + o)]!;
  const xRow = c.xRow ?? c.k;
  const xCol = c.xCol ?? 1;
  const xOffset = c.xOffset ?? 0;
  const x = random(seed + 1, xOffset + (c.m - 1) * xRow + (c.k - 1) * xCol + 1);
  const bias = random(seed + 2, c.n);
  const ldc = c.ldc ?? c.n;
  const cOffset = c.cOffset ?? 0;
  const yCount = cOffset + (c.m - 1) * ldc + c.n;
  const y0 = random(seed + 3, yCount);
  const alpha = c.alpha ?? 1;

  let wSlice;
  if (c.bindAt !== undefined) {
    const big = new Float32Array(c.bindAt / 4 + wCount + 64).fill(Number.NaN); // NaN around the view too
    big.set(w, c.bindAt / 4);
    wSlice = { buffer: ctx.upload('w', big), offset: c.bindAt, size: wCount * 4 };
  } else {
    wSlice = { buffer: ctx.upload('w', w) };
  }
  const args = (yBuffer: GPUBuffer): MatmulArgs => ({
    m: c.m, n: c.n, k: c.k,
    a: { slice: { buffer: ctx.upload('x', x) }, offset: xOffset, rowStride: xRow, colStride: xCol },
    b: { slice: wSlice, offset: wOffset, ...(c.layout === 'linear' ? { rowStride: 1, colStride: ldw } : { rowStride: ldw, colStride: 1 }) },
    c: { slice: { buffer: yBuffer }, offset: cOffset, ldc },
    ...(c.bias ? { bias: { slice: { buffer: ctx.upload('bias', bias) } } } : {}),
    ...(c.accumulate ? { accumulate: true } : {}),
    ...(c.alpha !== undefined ? { alpha } : {}),
  });
  const yFew = ctx.upload('y.matvec', y0);
  const yTiled = ctx.upload('y.matmul', y0);
  const command: Command = matvec(ctx, 'matvec', args(yFew));
  await run(ctx, [command, matmul(ctx, 'matmul', args(yTiled))]);

  const expected = Float64Array.from(y0);
  for (let i = 0; i < c.m; i += 1) for (let o = 0; o < c.n; o += 1) {
    let s = 0;
    for (let kk = 0; kk < c.k; kk += 1) s += x[xOffset + i * xRow + kk * xCol]! * wAt(kk, o);
    const idx = cOffset + i * ldc + o;
    expected[idx] = alpha * s + (c.bias ? bias[o]! : 0) + (c.accumulate ? y0[idx]! : 0);
  }
  const label = command.kind === 'dispatch' ? command.pipeline.label : '';
  return { got: await read(ctx, yFew, yCount), tiled: await read(ctx, yTiled, yCount), expected, label };
}

async function check(c: Case, seed: number): Promise<void> {
  const { got, tiled, expected, label } = await product(c, seed);
  expect(label.endsWith('.vec4'), `W binding of ${label}`).toBe(c.vec4);
  expect(relativeError(got, expected)).toBeLessThan(1e-5);
  expect(relativeError(got, tiled)).toBeLessThan(1e-5);
}

describeGpu('matvec (few-row matmul) vs plain JS float64 and vs matmul.ts', () => {
  // N = 1, 3, 16, 32 rows; K = 1101 spans several X tiles at every row count (KT ≤ 1,024).
  for (const m of [1, 3, 16, 32]) {
    it(`M = ${m}: nn.Linear W [out, in] (K odd: scalar W) and with a padded row stride (vec4 W, partial last vec4), bias`, async () => {
      await check({ m, n: 67, k: 1101, layout: 'linear', bias: true, vec4: false }, 10 + m);
      await check({ m, n: 67, k: 1101, layout: 'linear', ldw: 1104, wOffset: 8, bias: true, vec4: true }, 20 + m);
    });

    it(`M = ${m}: GPT-2 Conv1D W [in, out] (N odd: scalar W) and with a padded row stride (vec4 W, partial last output vec4), accumulate, α`, async () => {
      await check({ m, n: 67, k: 1101, layout: 'conv1d', accumulate: true, alpha: 0.5, vec4: false }, 30 + m);
      await check({ m, n: 67, k: 1101, layout: 'conv1d', ldw: 68, wOffset: 4, accumulate: true, alpha: 0.5, bias: true, vec4: true }, 40 + m);
    });
  }

  it('the decode views in paramSlice bindings (256-byte offset, exact size): Linear q|k|v, Conv1D c_attn, tied vocabulary head [V, C]', async () => {
    // tiny-model sizes: C = 32, q|k|v width 64, V = 1000; N = 6 sequences
    await check({ m: 6, n: 64, k: 32, layout: 'linear', bindAt: 256, bias: true, vec4: true }, 50);
    await check({ m: 6, n: 96, k: 32, layout: 'conv1d', bindAt: 512, bias: true, vec4: true }, 51);
    await check({ m: 6, n: 1000, k: 32, layout: 'linear', bindAt: 256, vec4: true }, 52);
    // GPT-2's 50,257 head rows (12,565 workgroups), narrower than its 768 (lavapipe binds ≤ 128 MiB), one sequence
    await check({ m: 1, n: 50257, k: 64, layout: 'linear', bindAt: 256, vec4: true }, 53);
    // K ≡ 2 (mod 4) in a binding that ends with the view: the last vec4 leaves it, so the binding is
    // widened into the buffer (NaN there and in the row padding: only masked elements are read)
    await check({ m: 2, n: 9, k: 30, layout: 'linear', ldw: 32, bindAt: 256, vec4: true }, 54);
    await check({ m: 2, n: 9, k: 30, layout: 'conv1d', ldw: 12, bindAt: 256, vec4: true }, 55);
  });

  it('strided X (transposed, with an offset) into a wider Y at a column offset, accumulating', async () => {
    await check({ m: 5, n: 37, k: 70, layout: 'linear', ldw: 72, xRow: 1, xCol: 7, xOffset: 3, ldc: 45, cOffset: 5, accumulate: true, vec4: true }, 60);
    await check({ m: 5, n: 37, k: 70, layout: 'conv1d', xRow: 1, xCol: 7, xOffset: 3, ldc: 45, cOffset: 5, accumulate: true, alpha: -2, vec4: false }, 61);
  });

  it('rejects more than MATVEC_MAX_ROWS rows and a W view with no unit stride (WEBGPU_SHAPE)', () => {
    const ctx = device();
    const buffer = ctx.buffer('t', 4096 * 4);
    const view = { slice: { buffer }, rowStride: 8, colStride: 1 };
    const args = (m: number, b: MatmulArgs['b']): MatmulArgs => ({ m, n: 8, k: 8, a: view, b, c: { slice: { buffer } } });
    expect(() => matvec(ctx, 'big', args(MATVEC_MAX_ROWS + 1, view))).toThrow(PolicyWebGpuError);
    expect(() => matvec(ctx, 'big', args(MATVEC_MAX_ROWS + 1, view))).toThrow(/at most 32/u);
    expect(() => matvec(ctx, 'strided', args(2, { slice: { buffer }, rowStride: 2, colStride: 16 }))).toThrow(/unit stride/u);
  });
});
