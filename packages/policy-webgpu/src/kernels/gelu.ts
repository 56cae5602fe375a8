/**
 * Fused bias + GELU (tanh approximation, HF GPT-2 `gelu_new`), forward and backward, on a
 * [rows, N] matrix whose bias [N] is added here (the `c_fc` matmul runs without its bias):
 *   h = x + b,  u = √(2/π)·(h + 0.044715·h³),  t = tanh(u),  y = ½·h·(1 + t).
 * Local derivative:
 *   dy/dh = ½·(1 + t) + ½·h·(1 − t²)·√(2/π)·(1 + 3·0.044715·h²),   dx = dy · dy/dh.
 * The bias gradient is Σ_rows dx (matmul.ts `biasGrad`). tanh is computed as 1 − 2/(e^{2u} + 1)
 * with u clamped to ±15 (exact in fp32 beyond), so large inputs cannot overflow to NaN.
 */
import { grid, WG, type Command, type GpuContext, type Slice } from '../gpu.js';

const TANH = /* wgsl */ `
fn tanhSafe(u: f32) -> f32 {
  let c = clamp(u, -15.0, 15.0);
  return 1.0 - 2.0 / (exp(2.0 * c) + 1.0);
}
const K0: f32 = 0.7978845608028654;
const K1: f32 = 0.044715;
`;

const FORWARD_WGSL = /* wgsl */ `
struct P { n: u32, N: u32, nx: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
${TANH}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let h = x[i] + b[i % p.N];
  let t = tanhSafe(K0 * (h + K1 * h * h * h));
  y[i] = 0.5 * h * (1.0 + t);
}
`;

const BACKWARD_WGSL = /* wgsl */ `
struct P { n: u32, N: u32, nx: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;
${TANH}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let h = x[i] + b[i % p.N];
  let t = tanhSafe(K0 * (h + K1 * h * h * h));
  let d = 0.5 * (1.0 + t) + 0.5 * h * (1.0 - t * t) * K0 * (1.0 + 3.0 * K1 * h * h);
  dx[i] = dy[i] * d;
}
`;

/** Arguments of {@link geluForward} and {@link geluBackward}. */
export interface GeluArgs {
  /** Rows. */
  rows: number;
  /** Columns (= bias length). */
  n: number;
  /** Pre-activation without bias x [rows, N]. */
  x: Slice;
  /** Bias b [N]. */
  bias: Slice;
}

function uniforms(ctx: GpuContext, label: string, a: GeluArgs) {
  const groups = grid(a.rows * a.n);
  return { groups, uniform: ctx.uniform(`${label}.p`, [['u32', a.rows * a.n], ['u32', a.n], ['u32', groups[0]], ['u32', 0]]) };
}

/** y = gelu_new(x + b): one dispatch. */
export function geluForward(ctx: GpuContext, label: string, a: GeluArgs & { y: Slice }): Command {
  const { groups, uniform } = uniforms(ctx, label, a);
  return ctx.dispatch(label, ctx.pipeline('gelu_forward', FORWARD_WGSL), [uniform, a.x, a.bias, a.y], groups);
}

/** dx = dy · gelu_new'(x + b) (dx may not alias dy's binding; write a separate buffer): one dispatch. */
export function geluBackward(ctx: GpuContext, label: string, a: GeluArgs & { dy: Slice; dx: Slice }): Command {
  const { groups, uniform } = uniforms(ctx, label, a);
  return ctx.dispatch(label, ctx.pipeline('gelu_backward', BACKWARD_WGSL), [uniform, a.x, a.bias, a.dy, a.dx], groups);
}
