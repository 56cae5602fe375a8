/**
 * SiLU·gate (SwiGLU, Llama/Qwen2 MLP), forward and backward. The gate and up projections come
 * from one matmul into gu [rows, 2M] (gate in columns 0…M−1, up in M…2M−1, the packed
 * `gate_proj`|`up_proj` weight):
 *   σ = 1/(1 + e^{−g}),  y = silu(g)·u = g·σ·u.
 * Local derivative:
 *   dg = dy · u · σ · (1 + g·(1 − σ)),   du = dy · g · σ,
 * written into dgu [rows, 2M] in the same packed layout (the input of the fused weight's backward).
 */
import { grid, WG, type Command, type GpuContext, type Slice } from '../gpu.js';

const FORWARD_WGSL = /* wgsl */ `
struct P { n: u32, M: u32, nx: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> gu: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let r = i / p.M;
  let c = i % p.M;
  let g = gu[r * 2u * p.M + c];
  let u = gu[r * 2u * p.M + p.M + c];
  y[i] = g / (1.0 + exp(-g)) * u;
}
`;

const BACKWARD_WGSL = /* wgsl */ `
struct P { n: u32, M: u32, nx: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> gu: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dgu: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let r = i / p.M;
  let c = i % p.M;
  let g = gu[r * 2u * p.M + c];
  let u = gu[r * 2u * p.M + p.M + c];
  let s = 1.0 / (1.0 + exp(-g));
  dgu[r * 2u * p.M + c] = dy[i] * u * s * (1.0 + g * (1.0 - s));
  dgu[r * 2u * p.M + p.M + c] = dy[i] * g * s;
}
`;

/** Arguments of {@link swigluForward} and {@link swigluBackward}. */
export interface SwigluArgs {
  /** Rows. */
  rows: number;
  /** MLP width M. */
  m: number;
  /** gu [rows, 2M]: gate | up. */
  gu: Slice;
}

function uniforms(ctx: GpuContext, label: string, a: SwigluArgs) {
  const groups = grid(a.rows * a.m);
  return { groups, uniform: ctx.uniform(`${label}.p`, [['u32', a.rows * a.m], ['u32', a.m], ['u32', groups[0]], ['u32', 0]]) };
}

/** y [rows, M] = silu(gate)·up: one dispatch. */
export function swigluForward(ctx: GpuContext, label: string, a: SwigluArgs & { y: Slice }): Command {
  const { groups, uniform } = uniforms(ctx, label, a);
  return ctx.dispatch(label, ctx.pipeline('swiglu_forward', FORWARD_WGSL), [uniform, a.gu, a.y], groups);
}

/** dgu [rows, 2M] from dy [rows, M]: one dispatch. */
export function swigluBackward(ctx: GpuContext, label: string, a: SwigluArgs & { dy: Slice; dgu: Slice }): Command {
  const { groups, uniform } = uniforms(ctx, label, a);
  return ctx.dispatch(label, ctx.pipeline('swiglu_backward', BACKWARD_WGSL), [uniform, a.gu, a.dy, a.dgu], groups);
}
