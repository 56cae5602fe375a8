/**
 * RMSNorm (Llama/Qwen2 `input_layernorm`, `post_attention_layernorm`, `norm`), forward and
 * backward, over rows of width C (transformers `LlamaRMSNorm`, computed in fp32):
 *   r = 1/√(mean(x²) + ε),  y = w · (x·r).
 * The forward saves r per row.
 * Local derivative (with g = dy·w): ∂r/∂x_j = −r³·x_j/C, so
 *   dx = r · (g − x · r² · mean(g·x)),   dw = Σ_rows dy·x·r.
 * The backward ADDS dx into its output (the residual stream's gradient); dw accumulates through
 * partial sums of 64-row chunks added in order (deterministic, no atomics).
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
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> rstds: array<f32>;
${ROW_REDUCE}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let row = wg.x + wg.y * 65535u;
  if (row >= p.rows) { return; }
  let base = row * p.C;
  var s = 0.0;
  for (var c = l.x; c < p.C; c += 64u) { let v = x[base + c]; s += v * v; }
  let r = 1.0 / sqrt(rowSum(s, l.x) / f32(p.C) + p.eps);
  for (var c = l.x; c < p.C; c += 64u) { y[base + c] = w[c] * (x[base + c] * r); }
  if (l.x == 0u) { rstds[row] = r; }
}
`;

const BACKWARD_WGSL = /* wgsl */ `
struct P { rows: u32, C: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> rstds: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
${ROW_REDUCE}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let row = wg.x + wg.y * 65535u;
  if (row >= p.rows) { return; }
  let base = row * p.C;
  let r = rstds[row];
  var s = 0.0;
  for (var c = l.x; c < p.C; c += 64u) { s += dy[base + c] * w[c] * x[base + c]; }
  let mgx = rowSum(s, l.x) / f32(p.C);
  for (var c = l.x; c < p.C; c += 64u) {
    dx[base + c] += r * (dy[base + c] * w[c] - x[base + c] * r * r * mgx);
  }
}
`;

const PARAM_PARTIAL_WGSL = /* wgsl */ `
struct P { rows: u32, C: u32, n: u32, nx: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> rstds: array<f32>;
@group(0) @binding(4) var<storage, read_write> partial: array<f32>; // [chunks, C]
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let c = i % p.C;
  let chunk = i / p.C;
  let end = min(p.rows, (chunk + 1u) * ${COLUMN_CHUNK}u);
  var s = 0.0;
  for (var r = chunk * ${COLUMN_CHUNK}u; r < end; r++) { s += dy[r * p.C + c] * x[r * p.C + c] * rstds[r]; }
  partial[i] = s;
}
`;

/** Arguments of {@link rmsNormForward}. */
export interface RmsNormForwardArgs {
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
  /** y [rows, C]. */
  y: Slice;
  /** Saved 1/rms [rows]. */
  rstd: Slice;
}

/** y = w · x / rms(x), saving 1/rms: one dispatch. */
export function rmsNormForward(ctx: GpuContext, label: string, a: RmsNormForwardArgs): Command {
  assertShape(a.rows > 0 && a.c > 0, `rmsNormForward ${label}`, `empty shape rows=${a.rows} C=${a.c}`);
  const uniform = ctx.uniform(`${label}.p`, [['u32', a.rows], ['u32', a.c], ['f32', a.eps], ['u32', 0]]);
  return ctx.dispatch(label, ctx.pipeline('rmsnorm_forward', FORWARD_WGSL), [uniform, a.x, a.weight, a.y, a.rstd], rowGroups(a.rows));
}

/** Arguments of {@link rmsNormBackward}. */
export interface RmsNormBackwardArgs {
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
  /** Saved 1/rms [rows]. */
  rstd: Slice;
  /** dx [rows, C]: the gradient is ADDED here. */
  dx: Slice;
  /** dw [C] (accumulated). */
  dweight: Slice;
  /** Scratch of ⌈rows / 64⌉·C floats for the weight gradient's partial sums. */
  scratch: Slice;
}

/** dx += ∂/∂x, dw += Σ dy·x·r (two-pass column sum): three dispatches. */
export function rmsNormBackward(ctx: GpuContext, label: string, a: RmsNormBackwardArgs): Command[] {
  const uniform = ctx.uniform(`${label}.p`, [['u32', a.rows], ['u32', a.c], ['u32', 0], ['u32', 0]]);
  const chunks = Math.ceil(a.rows / COLUMN_CHUNK);
  const groups = grid(chunks * a.c);
  const partialUniform = ctx.uniform(`${label}.params.p`, [['u32', a.rows], ['u32', a.c], ['u32', chunks * a.c], ['u32', groups[0]]]);
  return [
    ctx.dispatch(label, ctx.pipeline('rmsnorm_backward', BACKWARD_WGSL), [uniform, a.x, a.weight, a.dy, a.rstd, a.dx], rowGroups(a.rows)),
    ctx.dispatch(`${label}.params`, ctx.pipeline('rmsnorm_param_partial', PARAM_PARTIAL_WGSL), [partialUniform, a.x, a.dy, a.rstd, a.scratch], groups),
    columnSumFinish(ctx, `${label}.dweight`, { chunks, n: a.c, partial: a.scratch, stride: a.c, out: { slice: a.dweight } }),
  ];
}
