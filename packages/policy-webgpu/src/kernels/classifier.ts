/**
 * The fused classifier: per-token log-probability of a target token and the entropy of the
 * next-token distribution, from logits [R, V] (R = predicted tokens, only the rows that predict a
 * completion token: {@link gatherRows} selects them from the final hidden states first, so the
 * prompt's rows never reach the vocabulary matmul).
 * With z = x / T (temperature T, read from a storage scalar so one recording serves any T):
 *   lse = log Σ_v e^{z_v},  logp = z_target − lse,  entropy = lse − Σ_v softmax(z)_v · z_v.
 * Backward of L = Σ_r g_r · logp_r (g = dL/dlogp from the caller, e.g. GRPO's per-token weights);
 * entropy gets no gradient (as TRL, which computes it under no_grad). Local derivative:
 *   ∂logp/∂x_v = ([v = target] − softmax(z)_v) / T,  so  dx_v = g · ([v = target] − e^{z_v − lse}) / T,
 * written IN PLACE over the logits (llm.c's trick): the probabilities are never stored and nothing
 * of size [R, V] is read back. Forward: one 256-thread workgroup per row (max, then sum and
 * weighted sum), saving lse; backward: one thread per element.
 */
import { ROW_REDUCE_256 } from './reduce.js';
import { grid, rowGroups, WG, type Command, type GpuContext, type Slice } from '../gpu.js';

const FORWARD_WGSL = /* wgsl */ `
struct P { rows: u32, V: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<u32>;
@group(0) @binding(3) var<storage, read> invTemp: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // [rows, 3]: logp, entropy, lse
${ROW_REDUCE_256}
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let row = wg.x + wg.y * 65535u;
  if (row >= p.rows) { return; }
  let base = row * p.V;
  let it = invTemp[0];
  var m = -3.0e38;
  for (var v = l.x; v < p.V; v += 256u) { m = max(m, logits[base + v] * it); }
  m = rowMax(m, l.x);
  var s = 0.0;
  var sz = 0.0;
  for (var v = l.x; v < p.V; v += 256u) {
    let z = logits[base + v] * it;
    let e = exp(z - m);
    s += e;
    sz += e * z;
  }
  s = rowSum(s, l.x);
  sz = rowSum(sz, l.x);
  if (l.x == 0u) {
    let lse = m + log(s);
    out[3u * row] = logits[base + targets[row]] * it - lse;
    out[3u * row + 1u] = lse - sz / s;
    out[3u * row + 2u] = lse;
  }
}
`;

const BACKWARD_WGSL = /* wgsl */ `
struct P { n: u32, V: u32, nx: u32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> targets: array<u32>;
@group(0) @binding(2) var<storage, read> invTemp: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read> gradLogp: array<f32>;
@group(0) @binding(5) var<storage, read_write> logits: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let r = i / p.V;
  let v = i % p.V;
  let it = invTemp[0];
  let prob = exp(logits[i] * it - stats[3u * r + 2u]);
  var hot = 0.0;
  if (targets[r] == v) { hot = 1.0; }
  logits[i] = gradLogp[r] * (hot - prob) * it;
}
`;

const GATHER_WGSL = /* wgsl */ `
struct P { n: u32, C: u32, nx: u32, scatter: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> index: array<u32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;
@group(0) @binding(3) var<storage, read_write> dst: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let r = i / p.C;
  let c = i % p.C;
  if (p.scatter == 1u) { dst[index[r] * p.C + c] = src[i]; } else { dst[i] = src[index[r] * p.C + c]; }
}
`;

/** Arguments of {@link classifierForward}. */
export interface ClassifierForwardArgs {
  /** Rows R. */
  rows: number;
  /** Vocabulary V. */
  vocab: number;
  /** logits [R, V]. */
  logits: Slice;
  /** Target token per row [R] (u32). */
  targets: Slice;
  /** [1] f32: 1 / temperature. */
  invTemperature: Slice;
  /** out [R, 3]: log-prob, entropy, lse (the backward reads lse). */
  out: Slice;
}

/** Log-prob of the target and entropy per row: one dispatch. */
export function classifierForward(ctx: GpuContext, label: string, a: ClassifierForwardArgs): Command {
  const uniform = ctx.uniform(`${label}.p`, [['u32', a.rows], ['u32', a.vocab], ['u32', 0], ['u32', 0]]);
  return ctx.dispatch(label, ctx.pipeline('classifier_forward', FORWARD_WGSL), [uniform, a.logits, a.targets, a.invTemperature, a.out], rowGroups(a.rows));
}

/** Arguments of {@link classifierBackward}. */
export interface ClassifierBackwardArgs {
  /** Rows R. */
  rows: number;
  /** Vocabulary V. */
  vocab: number;
  /** logits [R, V], overwritten with dL/dlogits. */
  logits: Slice;
  /** Targets [R] (u32). */
  targets: Slice;
  /** [1] f32: 1 / temperature. */
  invTemperature: Slice;
  /** The forward's out [R, 3]. */
  stats: Slice;
  /** dL/dlogp [R]. */
  gradLogProbs: Slice;
}

/** logits ← g·(onehot − softmax)/T in place: one dispatch. */
export function classifierBackward(ctx: GpuContext, label: string, a: ClassifierBackwardArgs): Command {
  const n = a.rows * a.vocab;
  const groups = grid(n);
  const uniform = ctx.uniform(`${label}.p`, [['u32', n], ['u32', a.vocab], ['u32', groups[0]], ['u32', 0]]);
  return ctx.dispatch(label, ctx.pipeline('classifier_backward', BACKWARD_WGSL), [uniform, a.targets, a.invTemperature, a.stats, a.gradLogProbs, a.logits], groups);
}

/** Arguments of {@link gatherRows}. */
export interface GatherRowsArgs {
  /** Rows gathered R. */
  rows: number;
  /** Width. */
  c: number;
  /** Source row of each output row [R] (u32, distinct for the scatter). */
  index: Slice;
  /** Source [*, C] (gather) or [R, C] (scatter). */
  src: Slice;
  /** Destination [R, C] (gather) or [*, C] (scatter). */
  dst: Slice;
}

/** dst[r] = src[index[r]]: one dispatch. */
export function gatherRows(ctx: GpuContext, label: string, a: GatherRowsArgs): Command {
  return rows(ctx, label, a, 0);
}

/** dst[index[r]] = src[r] (the gather's backward; clear dst first, indices must be distinct): one dispatch. */
export function scatterRows(ctx: GpuContext, label: string, a: GatherRowsArgs): Command {
  return rows(ctx, label, a, 1);
}

function rows(ctx: GpuContext, label: string, a: GatherRowsArgs, scatter: number): Command {
  const n = a.rows * a.c;
  const groups = grid(n);
  const uniform = ctx.uniform(`${label}.p`, [['u32', n], ['u32', a.c], ['u32', groups[0]], ['u32', scatter]]);
  return ctx.dispatch(label, ctx.pipeline('gather_rows', GATHER_WGSL), [uniform, a.index, a.src, a.dst], groups);
}
