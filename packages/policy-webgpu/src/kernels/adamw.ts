/**
 * Fused AdamW (PyTorch `torch.optim.AdamW`, non-amsgrad, written in the order of its single-tensor
 * path so fp32 rounding follows it, like @vlm-grpo/vlm's tfjs `AdamW`), with the global-norm
 * clipping coefficient applied to the gradient on the fly. Per element, at update t (1-based):
 *   g ← g · clip                                  (clip from global-norm.ts, 1 when off)
 *   p ← p · (1 − lr·λ)                             (decoupled weight decay, only where it applies)
 *   m ← β1·m + (1 − β1)·g;   v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
 * Hyper-parameters live in a uniform buffer the engine rewrites before each step
 * ({@link adamwHyper}); the launcher's own uniform holds only the range and the decay flag.
 * Also here: the parameter EMA of a reference model, p ← α·src + (1 − α)·p (TRL `sync_ref_model`).
 */
import { grid, WG, type Command, type GpuContext, type Slice, type UniformField } from '../gpu.js';

const ADAMW_WGSL = /* wgsl */ `
struct H { beta1: f32, omBeta1: f32, beta2: f32, omBeta2: f32, eps: f32, decayFactor: f32, stepSize: f32, sqrtBc2: f32 }
struct P { n: u32, nx: u32, decay: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<uniform> hp: H;
@group(0) @binding(2) var<storage, read> clip: array<f32>; // [norm, coefficient]
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read_write> param: array<f32>;
@group(0) @binding(5) var<storage, read_write> m: array<f32>;
@group(0) @binding(6) var<storage, read_write> v: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let g = grad[i] * clip[1];
  var w = param[i];
  if (p.decay == 1u) { w = w * hp.decayFactor; }
  let mi = m[i] * hp.beta1 + g * hp.omBeta1;
  let vi = v[i] * hp.beta2 + (g * g) * hp.omBeta2;
  m[i] = mi;
  v[i] = vi;
  let denom = sqrt(vi) / hp.sqrtBc2 + hp.eps;
  param[i] = w - (mi / denom) * hp.stepSize;
}
`;

const LERP_WGSL = /* wgsl */ `
struct P { n: u32, nx: u32, alpha: f32, omAlpha: f32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  dst[i] = p.alpha * src[i] + p.omAlpha * dst[i];
}
`;

/** AdamW hyper-parameters of one step. */
export interface AdamWHyper {
  /** Learning rate. */
  learningRate: number;
  /** β1. */
  beta1: number;
  /** β2. */
  beta2: number;
  /** ε. */
  epsilon: number;
  /** Decoupled weight decay λ. */
  weightDecay: number;
  /** 1-based update number t (for the bias corrections). */
  step: number;
}

/** The uniform fields of {@link AdamWHyper} (the layout `adamwStep` reads). */
export function adamwHyper(h: AdamWHyper): UniformField[] {
  return [
    ['f32', h.beta1], ['f32', 1 - h.beta1], ['f32', h.beta2], ['f32', 1 - h.beta2],
    ['f32', h.epsilon], ['f32', 1 - h.learningRate * h.weightDecay],
    ['f32', h.learningRate / (1 - h.beta1 ** h.step)], ['f32', Math.sqrt(1 - h.beta2 ** h.step)],
  ];
}

/** Arguments of {@link adamwStep}. */
export interface AdamWStepArgs {
  /** Elements in the range. */
  n: number;
  /** Apply weight decay to this range. */
  decay: boolean;
  /** Uniform buffer with {@link adamwHyper}'s fields. */
  hyper: GPUBuffer;
  /** [norm, clip coefficient] (global-norm.ts). */
  clip: Slice;
  /** Gradient range. */
  grad: Slice;
  /** Parameter range (updated). */
  param: Slice;
  /** First-moment range (updated). */
  m: Slice;
  /** Second-moment range (updated). */
  v: Slice;
}

/** One AdamW update of a parameter range: one dispatch. */
export function adamwStep(ctx: GpuContext, label: string, a: AdamWStepArgs): Command {
  const groups = grid(a.n);
  const uniform = ctx.uniform(`${label}.p`, [['u32', a.n], ['u32', groups[0]], ['u32', a.decay ? 1 : 0], ['u32', 0]]);
  return ctx.dispatch(label, ctx.pipeline('adamw', ADAMW_WGSL), [uniform, a.hyper, a.clip, a.grad, a.param, a.m, a.v], groups);
}

/** dst ← α·src + (1 − α)·dst over n elements: one dispatch. */
export function lerp(ctx: GpuContext, label: string, a: { n: number; alpha: number; src: Slice; dst: Slice }): Command {
  const groups = grid(a.n);
  const uniform = ctx.uniform(`${label}.p`, [['u32', a.n], ['u32', groups[0]], ['f32', a.alpha], ['f32', 1 - a.alpha]]);
  return ctx.dispatch(label, ctx.pipeline('lerp', LERP_WGSL), [uniform, a.src, a.dst], groups);
}
