/**
 * Matmul: C[M, N] (+)= α · A[M, K] · B[K, N] (+ bias[N]), and the bias gradient (column sums).
 *
 * Every operand is addressed by strides (element (i, k) of A at `offA + i·sAm + k·sAk`), so one
 * kernel covers the layouts a transformer needs without transposing anything in memory:
 * - forward, GPT-2 `Conv1D` (W [in, out]): Y = X · W            (B: sBk = out, sBn = 1)
 * - forward, `nn.Linear` (W [out, in]):    Y = X · Wᵀ           (B: sBk = 1, sBn = in)
 * - backward of Y = X·W (+b):  dX = dY · Wᵀ,  dW += Xᵀ · dY,  db += Σ_rows dY
 * - backward of Y = X·Wᵀ:      dX = dY · W,   dW += dYᵀ · X
 * Local derivative: ∂Y[i,n]/∂X[i,k] = W[k,n] and ∂Y[i,n]/∂W[k,n] = X[i,k], so
 * dX[i,k] = Σ_n dY[i,n]·W[k,n] and dW[k,n] = Σ_i X[i,k]·dY[i,n]; ∂Y[i,n]/∂b[n] = 1.
 * `accumulate` adds into C (gradient accumulation, residual connections); C's row stride `ldc`
 * and column offset let a product land inside a wider buffer (the packed q|k|v activations).
 *
 * Kernel: 64×64 output tiles per 16×16-thread workgroup (4×4 outputs per thread), K in steps of
 * 16 through workgroup memory, fp32 accumulation in k order. Bounds are checked, so no shape needs
 * to be a multiple of the tile. The bias gradient sums columns in two passes (64-row chunks, then
 * the chunks in order): deterministic, no atomics.
 */
import { assertShape } from '../errors.js';
import { grid, WG, type Command, type GpuContext, type Slice } from '../gpu.js';

const MATMUL_WGSL = /* wgsl */ `
struct P {
  M: u32, N: u32, K: u32, offA: u32,
  sAm: u32, sAk: u32, offB: u32, sBk: u32,
  sBn: u32, offC: u32, ldc: u32, accumulate: u32,
  hasBias: u32, offBias: u32, alpha: f32, pad0: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read> bias: array<f32>;

var<workgroup> As: array<f32, 1024>; // [16 k][64 m]
var<workgroup> Bs: array<f32, 1024>; // [16 k][64 n]

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let tid = lid.y * 16u + lid.x;
  let row0 = wg.y * 64u;
  let col0 = wg.x * 64u;
  var acc: array<f32, 16>;
  for (var i = 0u; i < 16u; i++) { acc[i] = 0.0; }
  for (var k0 = 0u; k0 < p.K; k0 += 16u) {
    for (var i = 0u; i < 4u; i++) {
      let e = tid + i * 256u;
      // A tile: consecutive threads walk m when A is k-major (sAm == 1), else k.
      var m = e / 16u; var kk = e % 16u;
      if (p.sAm == 1u) { m = e % 64u; kk = e / 64u; }
      let gm = row0 + m; let gk = k0 + kk;
      var a = 0.0;
      if (gm < p.M && gk < p.K) { a = A[p.offA + gm * p.sAm + gk * p.sAk]; }
      As[kk * 64u + m] = a;
      var n = e % 64u; var kb = e / 64u;
      if (p.sBk == 1u) { n = e / 16u; kb = e % 16u; }
      let gn = col0 + n; let gkb = k0 + kb;
      var b = 0.0;
      if (gn < p.N && gkb < p.K) { b = B[p.offB + gkb * p.sBk + gn * p.sBn]; }
      Bs[kb * 64u + n] = b;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var a4: array<f32, 4>;
      var b4: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        a4[i] = As[kk * 64u + lid.y + i * 16u];
        b4[i] = Bs[kk * 64u + lid.x + i * 16u];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] = fma(a4[i], b4[j], acc[i * 4u + j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + lid.y + i * 16u;
    if (r >= p.M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + lid.x + j * 16u;
      if (c >= p.N) { continue; }
      var v = p.alpha * acc[i * 4u + j];
      if (p.hasBias == 1u) { v += bias[p.offBias + c]; }
      let idx = p.offC + r * p.ldc + c;
      if (p.accumulate == 1u) { v += C[idx]; }
      C[idx] = v;
    }
  }
}
`;

/** Rows summed by one thread in the first pass of a column reduction. */
export const COLUMN_CHUNK = 64;

const BIAS_PARTIAL_WGSL = /* wgsl */ `
struct P { M: u32, N: u32, offY: u32, ldy: u32, n: u32, nx: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> dY: array<f32>;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>; // [chunks, N]
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let col = i % p.N;
  let chunk = i / p.N;
  let end = min(p.M, (chunk + 1u) * ${COLUMN_CHUNK}u);
  var s = 0.0;
  for (var m = chunk * ${COLUMN_CHUNK}u; m < end; m++) { s += dY[p.offY + m * p.ldy + col]; }
  partial[i] = s;
}
`;

const COLUMN_FINISH_WGSL = /* wgsl */ `
struct P { chunks: u32, N: u32, offset: u32, stride: u32, offOut: u32, accumulate: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let col = gid.x;
  if (col >= p.N) { return; }
  var s = 0.0;
  for (var k = 0u; k < p.chunks; k++) { s += partial[p.offset + k * p.stride + col]; }
  if (p.accumulate == 1u) { s += out[p.offOut + col]; }
  out[p.offOut + col] = s;
}
`;

/**
 * Second pass of a column reduction: out[c] (+)= Σ_k partial[offset + k·stride + c] over `chunks`
 * first-pass rows, in k order (deterministic).
 */
export function columnSumFinish(
  ctx: GpuContext,
  label: string,
  a: { chunks: number; n: number; partial: Slice; offset?: number; stride: number; out: { slice: Slice; offset?: number }; accumulate?: boolean },
): Command {
  const uniform = ctx.uniform(`${label}.p`, [
    ['u32', a.chunks], ['u32', a.n], ['u32', a.offset ?? 0], ['u32', a.stride],
    ['u32', a.out.offset ?? 0], ['u32', a.accumulate === false ? 0 : 1], ['u32', 0], ['u32', 0],
  ]);
  assertShape(a.n <= 65535 * 256, `columnSumFinish ${label}`, `${a.n} columns`);
  return ctx.dispatch(label, ctx.pipeline('column_sum_finish', COLUMN_FINISH_WGSL), [uniform, a.partial, a.out.slice], grid(a.n));
}

/** A strided matrix operand: element (i, j) at `offset + i·rowStride + j·colStride` of `slice`. */
export interface MatrixView {
  /** The bound buffer range. */
  slice: Slice;
  /** Element offset inside the slice (default: 0). */
  offset?: number;
  /** Stride between rows (elements). */
  rowStride: number;
  /** Stride between columns (elements; 1 for row-major). */
  colStride: number;
}

/** Arguments of {@link matmul}. */
export interface MatmulArgs {
  /** Rows of C. */
  m: number;
  /** Columns of C. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** A [M, K]. */
  a: MatrixView;
  /** B [K, N]. */
  b: MatrixView;
  /** C [M, N], row-major with row stride `ldc` (default: n) from element `offset`. */
  c: { slice: Slice; offset?: number; ldc?: number };
  /** Optional bias [N] added to every row. */
  bias?: { slice: Slice; offset?: number };
  /** Add into C instead of overwriting it (default: false). */
  accumulate?: boolean;
  /** Scale of the product (default: 1). */
  alpha?: number;
}

/** C (+)= α·A·B (+ bias): one dispatch. */
export function matmul(ctx: GpuContext, label: string, args: MatmulArgs): Command {
  const { m, n, k } = args;
  assertShape(m > 0 && n > 0 && k > 0, `matmul ${label}`, `empty shape M=${m} N=${n} K=${k}`);
  const pipeline = ctx.pipeline('matmul', MATMUL_WGSL);
  const uniform = ctx.uniform(`${label}.p`, [
    ['u32', m], ['u32', n], ['u32', k], ['u32', args.a.offset ?? 0],
    ['u32', args.a.rowStride], ['u32', args.a.colStride], ['u32', args.b.offset ?? 0], ['u32', args.b.rowStride],
    ['u32', args.b.colStride], ['u32', args.c.offset ?? 0], ['u32', args.c.ldc ?? n], ['u32', args.accumulate ? 1 : 0],
    ['u32', args.bias ? 1 : 0], ['u32', args.bias?.offset ?? 0], ['f32', args.alpha ?? 1], ['u32', 0],
  ]);
  const bias = args.bias?.slice ?? args.a.slice;
  const groups: [number, number, number] = [Math.ceil(n / 64), Math.ceil(m / 64), 1];
  assertShape(groups[1] <= 65535, `matmul ${label}`, `M=${m} needs more than 65,535 row tiles`);
  return ctx.dispatch(label, pipeline, [uniform, args.a.slice, args.b.slice, args.c.slice, bias], groups);
}

/** Arguments of {@link biasGrad}. */
export interface BiasGradArgs {
  /** Rows of dY. */
  m: number;
  /** Columns of dY (= bias length). */
  n: number;
  /** dY [M, N] with row stride `ld` (default: n) from element `offset`. */
  dy: { slice: Slice; offset?: number; ld?: number };
  /** db [N] from element `offset`. */
  db: { slice: Slice; offset?: number };
  /** Scratch of ⌈M / 64⌉·N floats for the partial sums. */
  scratch: Slice;
  /** Add into db (default: true: gradients accumulate). */
  accumulate?: boolean;
}

/**
 * db (+)= Σ_rows dY in two passes: partial sums of 64-row chunks (one thread per chunk and
 * column), then one thread per column adds the chunks in order. Deterministic, no atomics.
 */
export function biasGrad(ctx: GpuContext, label: string, args: BiasGradArgs): Command[] {
  const chunks = Math.ceil(args.m / COLUMN_CHUNK);
  const n = chunks * args.n;
  const groups = grid(n);
  const uniform = ctx.uniform(`${label}.p`, [
    ['u32', args.m], ['u32', args.n], ['u32', args.dy.offset ?? 0], ['u32', args.dy.ld ?? args.n],
    ['u32', n], ['u32', groups[0]], ['u32', 0], ['u32', 0],
  ]);
  return [
    ctx.dispatch(`${label}.partial`, ctx.pipeline('bias_grad_partial', BIAS_PARTIAL_WGSL), [uniform, args.dy.slice, args.scratch], groups),
    columnSumFinish(ctx, label, { chunks, n: args.n, partial: args.scratch, stride: args.n, out: args.db, ...(args.accumulate === false ? { accumulate: false } : {}) }),
  ];
}
