/**
 * f16 matmul tests. Each product is checked element by element against a float64 reference
 * computed from the same f16-rounded operands, with the bound of the file header of
 * matmul-f16.ts (fp32 summation of exact products: K·2⁻²⁴·Σ_k|a·b|), and against the fp32
 * kernel on the unrounded operands ((2·2⁻¹¹ + 2⁻²²)·Σ_k|a·b| + the summation terms). The
 * subgroup-matrix kernel runs the same cases where the adapter offers it (Dawn's
 * `chromium-experimental-subgroup-matrix`); elsewhere (lavapipe, CI) its block is skipped and
 * its name says why.
 */
import { expect, it } from 'vitest';
import { f16Value, fromF16Array, packF16, roundF16, toF16Array } from '../__fixtures__/f16.js';
import { describeGpu, device, gpu, random, run, testDawnFlags } from '../__fixtures__/gpu-test-utils.js';
import { PolicyWebGpuError } from '../errors.js';
import { createGpuContext, GpuContext, withDawnFeature } from '../gpu.js';
import { f16Bytes } from './cast-f16.js';
import { matmul } from './matmul.js';
import {
  matmulF16,
  matmulF16FallbackReason,
  matmulF16Kernel,
  prepareMatmulF16,
  registerAdapterInfo,
  SUBGROUP_MATRIX_DAWN_FLAG,
  SUBGROUP_MATRIX_FEATURE,
  subgroupMatrixFeatures,
  subgroupMatrixSupport,
  supportsF16,
  type MatmulF16Output,
  type MatmulF16Path,
} from './matmul-f16.js';

const U16 = 2 ** -11;
const U32 = 2 ** -24;

/** The three products of a transformer's forward and backward, as strided views. */
type Layout = 'A·B' | 'A·Bᵀ' | 'Aᵀ·B';

interface Case {
  m: number;
  n: number;
  k: number;
  layout: Layout;
  output?: MatmulF16Output;
  alpha?: number;
  /** GPU-read factor of α (`alphaScale`, stored at element 1 of its buffer). */
  alphaScale?: number;
  bias?: boolean;
  accumulate?: boolean;
  /** f16 element offset of A inside its buffer. */
  offA?: number;
  /** Element offset and row stride of C. */
  offC?: number;
  ldc?: number;
  /** Operand values (default: seeded uniform in [−1, 1)). */
  a?: Float32Array;
  b?: Float32Array;
  seed?: number;
}

/** Strides of A (M×K) and B (K×N) as stored for each layout. */
function views(c: Case): { a: { rowStride: number; colStride: number }; b: { rowStride: number; colStride: number } } {
  const { m, n, k } = c;
  if (c.layout === 'A·B') return { a: { rowStride: k, colStride: 1 }, b: { rowStride: n, colStride: 1 } }; // X·W (Conv1D)
  if (c.layout === 'A·Bᵀ') return { a: { rowStride: k, colStride: 1 }, b: { rowStride: 1, colStride: k } }; // X·Wᵀ (Linear)
  return { a: { rowStride: 1, colStride: m }, b: { rowStride: n, colStride: 1 } }; // Xᵀ·dY (weight gradient)
}

interface Outcome {
  /** GPU result, as float64. */
  got: Float64Array;
  /** float64 α·Σ a16·b16 + bias + C₀ (f16-rounded operands). */
  ref: Float64Array;
  /** Σ_k |a16·b16| per element (for the bounds). */
  abs: Float64Array;
  /** The fp32 kernel on the unrounded operands (same α, bias, C₀), when requested. */
  fp32?: Float64Array;
  /** The terms added after the product: |bias| + |C₀|. */
  extra: Float64Array;
}

async function runCase(ctx: GpuContext, c: Case, path: MatmulF16Path, withFp32 = false): Promise<Outcome> {
  const { m, n, k } = c;
  const output = c.output ?? 'f32';
  const offA = c.offA ?? 0;
  const offC = c.offC ?? 0;
  const ldc = c.ldc ?? n;
  const v = views(c);
  const seed = c.seed ?? 1;
  const aStore = c.a ?? random(seed, m * k);
  const bStore = c.b ?? random(seed + 1, k * n);
  const bias = random(seed + 2, n, -2, 2);
  const a16 = toF16Array([...new Array<number>(offA).fill(0), ...aStore]);
  const b16 = toF16Array(bStore);
  const cSize = offC + (m - 1) * ldc + n;
  const c0 = random(seed + 3, cSize, -4, 4).map((x) => (output === 'f16' ? roundF16(x) : x));
  const alpha = (c.alpha ?? 1) * (c.alphaScale ?? 1);
  const aAt = (i: number, kk: number): number => f16Value(a16[offA + i * v.a.rowStride + kk * v.a.colStride]!);
  const bAt = (kk: number, j: number): number => f16Value(b16[kk * v.b.rowStride + j * v.b.colStride]!);

  const cBuffer =
    output === 'f32' ? ctx.upload('c', c0) : ctx.upload('c', packF16(toF16Array(c0)));
  const biasBuffer = ctx.upload('bias', bias);
  await run(ctx, [
    matmulF16(ctx, 'mm16', {
      m, n, k, output, path, alpha: c.alpha ?? 1,
      ...(c.alphaScale === undefined ? {} : { alphaScale: { slice: { buffer: ctx.upload('alphaScale', Float32Array.of(3, c.alphaScale)) }, offset: 1 } }),
      a: { slice: { buffer: ctx.upload('a', packF16(a16)) }, offset: offA, ...v.a },
      b: { slice: { buffer: ctx.upload('b', packF16(b16)) }, ...v.b },
      c: { slice: { buffer: cBuffer }, offset: offC, ldc },
      ...(c.bias ? { bias: { slice: { buffer: biasBuffer } } } : {}),
      accumulate: c.accumulate ?? false,
    }),
  ]);
  const raw = output === 'f32' ? Float64Array.from(await ctx.readF32(cBuffer, cSize)) : fromF16Array(new Uint16Array(await ctx.read(cBuffer, f16Bytes(cSize)), 0, cSize));

  const got = new Float64Array(m * n);
  const ref = new Float64Array(m * n);
  const abs = new Float64Array(m * n);
  const extra = new Float64Array(m * n);
  for (let i = 0; i < m; i += 1) for (let j = 0; j < n; j += 1) {
    let s = 0;
    let t = 0;
    for (let kk = 0; kk < k; kk += 1) {
      const p = aAt(i, kk) * bAt(kk, j);
      s += p;
      t += Math.abs(p);
    }
    const idx = offC + i * ldc + j;
    const add = (c.bias ? bias[j]! : 0) + (c.accumulate ? c0[idx]! : 0);
    got[i * n + j] = raw[idx]!;
    ref[i * n + j] = alpha * s + add;
    abs[i * n + j] = Math.abs(alpha) * t;
    extra[i * n + j] = Math.abs(add);
  }
  // Outside the written rectangle (ldc padding, the offset), C is untouched.
  for (let idx = 0; idx < cSize; idx += 1) {
    const col = (idx - offC) % ldc;
    if (idx < offC || col >= n) expect(raw[idx]).toBe(output === 'f16' ? c0[idx] : Math.fround(c0[idx]!));
  }
  if (!withFp32) return { got, ref, abs, extra };

  const c32 = ctx.upload('c32', c0);
  const aFull = Float32Array.from([...new Array<number>(offA).fill(0), ...aStore]);
  await run(ctx, [
    matmul(ctx, 'mm32', {
      m, n, k, alpha,
      a: { slice: { buffer: ctx.upload('a32', aFull) }, offset: offA, ...v.a },
      b: { slice: { buffer: ctx.upload('b32', bStore) }, ...v.b },
      c: { slice: { buffer: c32 }, offset: offC, ldc },
      ...(c.bias ? { bias: { slice: { buffer: biasBuffer } } } : {}),
      accumulate: c.accumulate ?? false,
    }),
  ]);
  const raw32 = await ctx.readF32(c32, cSize);
  const fp32 = new Float64Array(m * n);
  for (let i = 0; i < m; i += 1) for (let j = 0; j < n; j += 1) fp32[i * n + j] = raw32[offC + i * ldc + j]!;
  return { got, ref, abs, extra, fp32 };
}

/**
 * Largest ratio |got − expected| / bound over the elements (≤ 1 passes). Bounds, per element:
 * e = `sumFactor`·Σ|a·b| + 2⁻²⁴·(4·(|bias| + |C₀|) + 1) (the fp32 sums, additions and a floor), plus
 * for an f16 result its rounding, 2⁻¹¹·(|expected| + e) + 2⁻²⁵.
 */
function worst(got: ArrayLike<number>, expected: ArrayLike<number>, o: Outcome, sumFactor: number, f16Output: boolean): { ratio: number; at: string } {
  let ratio = 0;
  let at = '';
  for (let i = 0; i < expected.length; i += 1) {
    const fp32 = sumFactor * o.abs[i]! + U32 * (4 * o.extra[i]! + 1);
    // f16 result: RNE of the fp32 value, half a unit in the last place (2⁻²⁵ among subnormals)
    const bound = fp32 + (f16Output ? U16 * (Math.abs(expected[i]!) + fp32) + 2 ** -25 : 0);
    const err = Math.abs(got[i]! - expected[i]!);
    const r = Number.isNaN(err) ? Infinity : err / bound;
    if (r > ratio) {
      ratio = r;
      at = `element ${i}: got ${got[i]}, expected ${expected[i]}, bound ${bound}`;
    }
  }
  return { ratio, at };
}

/** The header's bounds: against the f16-operand reference, and against the fp32 kernel. */
function check(o: Outcome, k: number, f16Output: boolean, tensorCores: boolean): void {
  const sumFactor = (tensorCores ? 2 : 1) * k * U32;
  const vsRef = worst(o.got, o.ref, o, sumFactor, f16Output);
  expect(vsRef.ratio, `vs float64 of the f16 operands: ${vsRef.at}`).toBeLessThanOrEqual(1);
  if (o.fp32) {
    const vs32 = worst(o.got, o.fp32, o, 2 * U16 + U16 * U16 + sumFactor + k * U32, f16Output);
    expect(vs32.ratio, `vs the fp32 kernel: ${vs32.at}`).toBeLessThanOrEqual(1);
  }
  // Not vacuous: the products are far from zero compared with the bounds.
  expect(Math.max(...Array.from(o.ref, Math.abs))).toBeGreaterThan(0.1);
}

/** The cases every kernel must pass: each layout, odd sizes, several tiles, the epilogue options. */
function suite(path: MatmulF16Path, ctxOf: () => GpuContext, tensorCores: boolean): void {
  for (const layout of ['A·B', 'A·Bᵀ', 'Aᵀ·B'] as const) {
    it(`${layout}: M=70, N=67, K=33 (no size a multiple of a tile), fp32 output, vs float64 and the fp32 kernel`, async () => {
      const c: Case = { m: 70, n: 67, k: 33, layout };
      check(await runCase(ctxOf(), c, path, true), c.k, false, tensorCores);
    });
  }
  it('A·Bᵀ: M=130, N=129, K=300 (tiles in both directions), α = 0.5, bias, f16 A offset 3', async () => {
    const c: Case = { m: 130, n: 129, k: 300, layout: 'A·Bᵀ', alpha: 0.5, bias: true, offA: 3, seed: 7 };
    check(await runCase(ctxOf(), c, path, true), c.k, false, tensorCores);
  });
  it('alphaScale: α times a factor read on the GPU (the inverse loss scale of an f16 gradient), A·Bᵀ and Aᵀ·B accumulating', async () => {
    for (const layout of ['A·Bᵀ', 'Aᵀ·B'] as const) {
      const c: Case = { m: 40, n: 70, k: 67, layout, alpha: 0.5, alphaScale: 2 ** -7, accumulate: true, seed: 13 };
      const o = await runCase(ctxOf(), c, path, true);
      // ignoring the factor would leave errors of ~1 against bounds of ~1e-6 (C₀ is only ±4)
      check(o, c.k, false, tensorCores);
    }
  });
  it('Aᵀ·B accumulating into fp32 C (gradient accumulation) at an offset with a row stride', async () => {
    const c: Case = { m: 33, n: 70, k: 67, layout: 'Aᵀ·B', accumulate: true, offC: 5, ldc: 75, seed: 9 };
    check(await runCase(ctxOf(), c, path, true), c.k, false, tensorCores);
  });
  for (const layout of ['A·B', 'Aᵀ·B'] as const) {
    it(`${layout}: f16 output (activations) with bias, α = 2 and f16 accumulation target, odd offset and stride`, async () => {
      const c: Case = { m: 45, n: 71, k: 90, layout, output: 'f16', alpha: 2, bias: true, accumulate: true, offC: 3, ldc: 73, seed: 11 };
      check(await runCase(ctxOf(), c, path, true), c.k, true, tensorCores);
    });
  }
  it('K = 4096 of positive values: fp32 accumulation (an f16 accumulator fails this by ~10⁻¹ relative)', async () => {
    // Row sums grow to ~1,000 where f16's spacing is 0.5…1, so an f16 running sum would drop
    // most of each ~0.25 product; fp32's bound here is 4096·2⁻²⁴·Σ|a·b| ≈ 2.4e-4 relative.
    const [m, n, k] = [8, 8, 4096];
    const c: Case = { m, n, k, layout: 'A·B', a: random(21, m * k, 0, 1), b: random(22, k * n, 0, 1) };
    const o = await runCase(ctxOf(), c, path, true);
    check(o, k, false, tensorCores);
    expect(Math.min(...o.ref)).toBeGreaterThan(900);
  });
}

it('matmulF16 throws WEBGPU_UNSUPPORTED on a device without shader-f16', () => {
  const noF16 = new GpuContext({ features: new Set<string>() } as unknown as GPUDevice, 'stub adapter');
  expect(supportsF16(noF16)).toBe(false);
  const view = { slice: { buffer: {} as GPUBuffer }, rowStride: 1, colStride: 1 };
  const call = (): unknown => matmulF16(noF16, 'x', { m: 1, n: 1, k: 1, a: view, b: view, c: { slice: { buffer: {} as GPUBuffer } } });
  expect(call).toThrow(PolicyWebGpuError);
  expect(call).toThrow(/shader-f16.*stub adapter/u);
});

describeGpu('f16 matmul, plain kernel (every adapter with shader-f16; lavapipe in CI)', () => {
  it('the device has shader-f16; auto stays plain until prepared; the subgroup-matrix path refuses clearly where it is missing', async () => {
    const ctx = device();
    expect(supportsF16(ctx)).toBe(true);
    expect(matmulF16FallbackReason(ctx)).toMatch(/has not run/u);
    expect(matmulF16Kernel(ctx)).toBe('plain');
    const found = subgroupMatrixSupport(ctx);
    if ('reason' in found) {
      expect(await prepareMatmulF16(ctx)).toBe('plain');
      expect(matmulF16FallbackReason(ctx)).toMatch(/the device lacks .*chromium-experimental-subgroup-matrix/u);
      expect(matmulF16Kernel(ctx)).toBe('plain');
      expect(() => matmulF16Kernel(ctx, 'subgroup-matrix')).toThrow(/subgroup-matrix kernel cannot run here: the device lacks/u);
    }
  });
  it('auto falls back to the plain kernel when the subgroup-matrix kernel does not compile', async () => {
    const real = device().device;
    if (real.features.has(SUBGROUP_MATRIX_FEATURE)) return; // the claim below would be true
    // The same device, claiming the feature and a 16×16×16 configuration it does not have.
    const features = new Set([...real.features, 'subgroups', SUBGROUP_MATRIX_FEATURE]);
    const claiming = new Proxy(real, {
      get: (target, key) => {
        if (key === 'features') return features;
        // as Dawn's binding does: device.adapterInfo exists but lists no configurations (the registered adapter.info must win)
        if (key === 'adapterInfo') return { subgroupMinSize: 32, subgroupMaxSize: 32, subgroupMatrixConfigs: [] };
        const value = Reflect.get(target, key, target) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
    registerAdapterInfo(claiming, { subgroupMinSize: 32, subgroupMaxSize: 32, subgroupMatrixConfigs: [{ componentType: 'f16', resultComponentType: 'f32', M: 16, N: 16, K: 16 }] });
    const ctx = await createGpuContext({ device: claiming });
    expect(subgroupMatrixSupport(ctx)).toEqual({ support: { size: 16, subgroupSize: 32 } });
    // without the registration, device.adapterInfo's empty list is all there is, and the reason says where to look
    const unregistered = await createGpuContext({ device: new Proxy(claiming, {}) });
    expect(subgroupMatrixSupport(unregistered)).toEqual({
      reason: expect.stringMatching(/lists: none; on Dawn, device\.adapterInfo lists none: pass adapter\.info to registerAdapterInfo/u) as unknown as string,
    });
    expect(await prepareMatmulF16(ctx)).toBe('plain');
    expect(matmulF16FallbackReason(ctx)).toMatch(/did not compile: .*extension '(subgroups|chromium_experimental_subgroup_matrix)' is not allowed/u);
    expect(matmulF16Kernel(ctx)).toBe('plain');
    // forcing the kernel that did not compile is refused with that reason, not left to fail at the first dispatch
    expect(() => matmulF16Kernel(ctx, 'subgroup-matrix')).toThrow(/subgroup-matrix kernel cannot run here: the subgroup-matrix kernel did not compile/u);
  });
  suite('plain', device, false);
});

/** Instances of the `webgpu` package must outlive their devices (see gpu.ts). */
const instances: unknown[] = [];

/** A device with subgroup matrices, or why there is none. */
async function subgroupMatrixContext(): Promise<{ ctx: GpuContext } | { reason: string }> {
  if (!gpu) return { reason: 'no WebGPU adapter' };
  const dawn = (await import('webgpu')) as { create: (flags: string[]) => GPU };
  const instance = dawn.create(withDawnFeature(testDawnFlags, SUBGROUP_MATRIX_DAWN_FLAG));
  instances.push(instance);
  const adapter = await instance.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return { reason: 'no adapter' };
  const name = [adapter.info.vendor, adapter.info.description].filter(Boolean).join(' ');
  const features = subgroupMatrixFeatures(adapter);
  if (features.length === 0) return { reason: `the adapter (${name}) lacks ${SUBGROUP_MATRIX_FEATURE}` };
  const device = await adapter.requestDevice({
    requiredFeatures: features,
    requiredLimits: { maxComputeWorkgroupStorageSize: adapter.limits.maxComputeWorkgroupStorageSize },
  });
  registerAdapterInfo(device, adapter.info);
  const ctx = await createGpuContext({ device });
  const found = subgroupMatrixSupport(ctx);
  return 'support' in found ? { ctx } : { reason: `${name}: ${found.reason}` };
}

const sgm = await subgroupMatrixContext();
const sgmName = 'ctx' in sgm ? 'f16 matmul, subgroup-matrix kernel' : `f16 matmul, subgroup-matrix kernel (skipped: ${sgm.reason})`;
describeGpu(sgmName, () => {
  const ctxOf = (): GpuContext => {
    if (!('ctx' in sgm)) throw new Error(sgm.reason);
    return sgm.ctx;
  };
  it.skipIf(!('ctx' in sgm))('the kernel compiles (prepareMatmulF16) and auto then selects it', async () => {
    expect(await prepareMatmulF16(ctxOf())).toBe('subgroup-matrix');
    expect(matmulF16FallbackReason(ctxOf())).toBeNull();
    expect(matmulF16Kernel(ctxOf())).toBe('subgroup-matrix');
  });
  if ('ctx' in sgm) suite('subgroup-matrix', ctxOf, true);
  else it.skip(`needs ${SUBGROUP_MATRIX_FEATURE} (${sgm.reason})`, () => undefined);
});
