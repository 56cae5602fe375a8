/**
 * LayerNorm (GPT-2 `ln_1`, `ln_2`, `ln_f`), forward and backward, over rows of width C:
 *   μ = mean(x),  σ² = mean((x − μ)²) (biased, as PyTorch),  r = 1/√(σ² + ε),
 *   x̂ = (x − μ)·r,  y = x̂·w + b.
 * The forward saves μ and r per row for the backward.
 * Local derivative (with g = dy·w, the gradient reaching x̂):
 *   dx = r · (g − mean(g) − x̂ · mean(g·x̂))
 *   dw = Σ_rows dy·x̂,   db = Σ_rows dy
 * `layerNormBackward` ADDS dx into its output (the residual stream's gradient), and the parameter
 * gradients accumulate; the row pass (dx) and the column passes (dw, db: partial sums of 64-row
 * chunks, then the chunks in order) are separate dispatches, so nothing needs atomics.
 * Kernels: one 64-thread workgroup per row, tree reductions in workgroup memory, two-pass mean and
 * variance (as PyTorch, not E[x²] − μ²).
 */
import { assertShape } from '../errors.js';
import { grid, rowGroups, WG, type Command, type GpuContext, type Slice } from '../gpu.js';
import { COLUMN_CHUNK, columnSumFinish } from './matmul.js';
import { ROW_REDUCE } from './reduce.js';

const FORWARD_WGSL = /* wgsl */ `
struct P { rows: u32, C: u32, eps: f32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> b: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> stats: array<f32>; // [rows, 2]: mean, rstd
${ROW_REDUCE}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let row = wg.x + wg.y * 65535u;
  if (row >= p.rows) { return; }
  let base = row * p.C;
  var s = 0.0;
  for (var c = l.x; c < p.C; c += 64u) { s += x[base + c]; }
  let mean = rowSum(s, l.x) / f32(p.C);
  var v = 0.0;
  for (var c = l.x; c < p.C; c += 64u) { let d = x[base + c] - mean; v += d * d; }
  let rstd = 1.0 / sqrt(rowSum(v, l.x) / f32(p.C) + p.eps);
  for (var c = l.x; c < p.C; c += 64u) { y[base + c] = (x[base + c] - mean) * rstd * w[c] + b[c]; }
  if (l.x == 0u) { stats[2u * row] = mean; stats[2u * row + 1u] = rstd; }
}
`;

const BACKWARD_WGSL = /* wgsl */ `
struct P { rows: u32, C: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
${ROW_REDUCE}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let row = wg.x + wg.y * 65535u;
  if (row >= p.rows) { return; }
  let base = row * p.C;
  let mean = stats[2u * row];
  let rstd = stats[2u * row + 1u];
  var sg = 0.0;
  var sgx = 0.0;
  for (var c = l.x; c < p.C; c += 64u) {
    let g = dy[base + c] * w[c];
    sg += g;
    sgx += g * (x[base + c] - mean) * rstd;
  }
  let mg = rowSum(sg, l.x) / f32(p.C);
  let mgx = rowSum(sgx, l.x) / f32(p.C);
  for (var c = l.x; c < p.C; c += 64u) {
    let xhat = (x[base + c] - mean) * rstd;
    let g = dy[base + c] * w[c];
    dx[base + c] += rstd * (g - mg - xhat * mgx);
  }
}
`;

const PARAM_PARTIAL_WGSL = /* wgsl */ `
struct P { rows: u32, C: u32, n: u32, nx: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>; // [chunks, 2C]: Σ dy·x̂ | Σ dy
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let c = i % p.C;
  let chunk = i / p.C;
  let end = min(p.rows, (chunk + 1u) * ${COLUMN_CHUNK}u);
  var sw = 0.0;
  var sb = 0.0;
  for (var r = chunk * ${COLUMN_CHUNK}u; r < end; r++) {
    let g = dy[r * p.C + c];
    sw += g * (x[r * p.C + c] - stats[2u * r]) * stats[2u * r + 1u];
    sb += g;
  }
  partial[chunk * 2u * p.C + c] = sw;
  partial[chunk * 2u * p.C + p.C + c] = sb;
}
`;


/** Arguments of {@link layerNormForward}. */
export interface LayerNormForwardArgs {
  /** Rows. */
  rows: number;
  /** Width. */
  c: number;
  /** ε. */
  eps: number;
  /** x [rows, C]. */
  x: Slice;
  /** Scale w [C]. */
  weight: Slice;
  /** Shift b [C]. */
  bias: Slice;
  /** y [rows, C]. */
  y: Slice;
  /** Saved [rows, 2] (mean, 1/std) for the backward. */
  stats: Slice;
}

/** y = LayerNorm(x)·w + b, saving the row statistics: one dispatch. */
export function layerNormForward(ctx: GpuContext, label: string, a: LayerNormForwardArgs): Command {
  assertShape(a.rows > 0 && a.c > 0, `layerNormForward ${label}`, `empty shape rows=${a.rows} C=${a.c}`);
  const uniform = ctx.uniform(`${label}.p`, [['u32', a.rows], ['u32', a.c], ['f32', a.eps], ['u32', 0]]);
  return ctx.dispatch(label, ctx.pipeline('layernorm_forward', FORWARD_WGSL), [uniform, a.x, a.weight, a.bias, a.y, a.stats], rowGroups(a.rows));
}

/** Arguments of {@link layerNormBackward}. */
export interface LayerNormBackwardArgs {
  /** Rows. */
  rows: number;
  /** Width. */
  c: number;
  /** The forward's input x [rows, C]. */
  x: Slice;
  /** Scale w [C]. */
  weight: Slice;
  /** Gradient of y [rows, C]. */
  dy: Slice;
  /** The forward's saved statistics [rows, 2]. */
  stats: Slice;
  /** dx [rows, C]: the gradient is ADDED here. */
  dx: Slice;
  /** dw [C] (accumulated). */
  dweight: Slice;
  /** db [C] (accumulated). */
  dbias: Slice;
  /** Scratch of ⌈rows / 64⌉·2C floats for the parameter gradients' partial sums. */
  scratch: Slice;
}

/** dx += ∂/∂x, dw += Σ dy·x̂, db += Σ dy (two-pass column sums): four dispatches. */
export function layerNormBackward(ctx: GpuContext, label: string, a: LayerNormBackwardArgs): Command[] {
  const uniform = ctx.uniform(`${label}.p`, [['u32', a.rows], ['u32', a.c], ['u32', 0], ['u32', 0]]);
  const chunks = Math.ceil(a.rows / COLUMN_CHUNK);
  const groups = grid(chunks * a.c);
  const partialUniform = ctx.uniform(`${label}.params.p`, [['u32', a.rows], ['u32', a.c], ['u32', chunks * a.c], ['u32', groups[0]]]);
  return [
    ctx.dispatch(label, ctx.pipeline('layernorm_backward', BACKWARD_WGSL), [uniform, a.x, a.weight, a.dy, a.stats, a.dx], rowGroups(a.rows)),
    ctx.dispatch(`${label}.params`, ctx.pipeline('layernorm_param_partial', PARAM_PARTIAL_WGSL), [partialUniform, a.x, a.dy, a.stats, a.scratch], groups),
    columnSumFinish(ctx, `${label}.dweight`, { chunks, n: a.c, partial: a.scratch, stride: 2 * a.c, out: { slice: a.dweight } }),
    columnSumFinish(ctx, `${label}.dbias`, { chunks, n: a.c, partial: a.scratch, offset: a.c, stride: 2 * a.c, out: { slice: a.dbias } }),
  ];
}
