/**
 * Fused causal self-attention with a key padding mask and grouped-query attention, forward and
 * backward, on the packed projection qkv [B·S, (H + 2·Hkv)·D] (per token: H query heads, then Hkv
 * key heads, then Hkv value heads, D wide each; GPT-2's `c_attn` output has exactly this layout,
 * Llama/Qwen2 get it from one matmul with the stacked q|k|v weights). Query head h reads key/value
 * head h / (H / Hkv) (transformers `repeat_kv`: each kv head serves consecutive query heads).
 *
 * Forward, per (b, h, query i), over the keys j ≤ i with mask[b, j] = 1:
 *   s_ij = α·q_i·k_j (α = 1/√D, or as the caller sets),  P_ij = softmax_j(s_ij),  o_i = Σ_j P_ij v_j,
 * with an online softmax (running max and sum), so the [S, S] scores are never stored; saves
 * lse_i = log Σ_j e^{s_ij}. A query with no visible key (a left-padding position) gets o = 0 and
 * lse = +1e30 (so P = 0 in the backward); HF instead spreads it uniformly, but such rows only feed
 * positions that are themselves padding and never reach a valid log-prob.
 * Backward (local derivative of softmax attention, with P recomputed from lse):
 *   dv_j = Σ_i P_ij·do_i,   dP_ij = do_i·v_j,   δ_i = Σ_j P_ij·dP_ij = do_i·o_i,
 *   ds_ij = P_ij·(dP_ij − δ_i),   dq_i = α·Σ_j ds_ij·k_j,   dk_j = α·Σ_i ds_ij·q_i.
 * Without atomics: one thread per (b, h, i) computes δ_i and dq_i; then, for dk and dv:
 * - multi-head attention (H = Hkv): one thread per (b, head, key j) loops over the queries i ≥ j
 *   and owns dk_j and dv_j;
 * - grouped-query attention (H > Hkv): one thread per (b, query head h, key j) writes head h's
 *   share of dk_j and dv_j to a scratch [2, B·S, H, D], and a third dispatch sums each group's
 *   shares (query heads g·H/Hkv … (g+1)·H/Hkv − 1, in order: deterministic) into dqkv. One thread
 *   per kv head and key would loop over the whole group and leave most of a large GPU idle: for
 *   SmolLM2's 9 query on 3 kv heads at 8 × 128 tokens, 3,072 threads took 115 of a 210 ms step on
 *   an H100 (BENCHMARKS.md).
 * The WGSL is generated per head width D (private arrays of D floats per thread).
 */
import { assertShape } from '../errors.js';
import { grid, WG, type Command, type GpuContext, type Slice } from '../gpu.js';

const COMMON = (d: number) => /* wgsl */ `
struct P { B: u32, S: u32, H: u32, Hkv: u32, n: u32, nx: u32, scale: f32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: P;
const D: u32 = ${d}u;
fn width() -> u32 { return (p.H + 2u * p.Hkv) * D; }
fn qAt(t: u32, h: u32) -> u32 { return t * width() + h * D; }
fn kAt(t: u32, g: u32) -> u32 { return t * width() + (p.H + g) * D; }
fn vAt(t: u32, g: u32) -> u32 { return t * width() + (p.H + p.Hkv + g) * D; }
`;

const FORWARD_WGSL = (d: number) => /* wgsl */ `
${COMMON(d)}
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let id = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (id >= p.n) { return; }
  let i = id % p.S;
  let h = (id / p.S) % p.H;
  let b = id / (p.S * p.H);
  let g = h / (p.H / p.Hkv);
  let ti = b * p.S + i;
  var q: array<f32, ${d}>;
  var acc: array<f32, ${d}>;
  for (var d = 0u; d < D; d++) { q[d] = qkv[qAt(ti, h) + d]; acc[d] = 0.0; }
  var m = -3.0e38;
  var sum = 0.0;
  for (var j = 0u; j <= i; j++) {
    let tj = b * p.S + j;
    if (mask[tj] == 0u) { continue; }
    var s = 0.0;
    let kb = kAt(tj, g);
    for (var d = 0u; d < D; d++) { s = fma(q[d], qkv[kb + d], s); }
    s *= p.scale;
    let mNew = max(m, s);
    let corr = exp(m - mNew);
    let e = exp(s - mNew);
    sum = sum * corr + e;
    let vb = vAt(tj, g);
    for (var d = 0u; d < D; d++) { acc[d] = acc[d] * corr + e * qkv[vb + d]; }
    m = mNew;
  }
  let ob = ti * p.H * D + h * D;
  if (sum == 0.0) {
    for (var d = 0u; d < D; d++) { out[ob + d] = 0.0; }
    lse[id] = 1.0e30;
  } else {
    for (var d = 0u; d < D; d++) { out[ob + d] = acc[d] / sum; }
    lse[id] = m + log(sum);
  }
}
`;

const BACKWARD_Q_WGSL = (d: number) => /* wgsl */ `
${COMMON(d)}
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read> out: array<f32>;
@group(0) @binding(4) var<storage, read> dout: array<f32>;
@group(0) @binding(5) var<storage, read> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dqkv: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let id = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (id >= p.n) { return; }
  let i = id % p.S;
  let h = (id / p.S) % p.H;
  let b = id / (p.S * p.H);
  let g = h / (p.H / p.Hkv);
  let ti = b * p.S + i;
  let ob = ti * p.H * D + h * D;
  var q: array<f32, ${d}>;
  var dO: array<f32, ${d}>;
  var dq: array<f32, ${d}>;
  var dl = 0.0;
  for (var d = 0u; d < D; d++) {
    q[d] = qkv[qAt(ti, h) + d];
    dO[d] = dout[ob + d];
    dq[d] = 0.0;
    dl = fma(dO[d], out[ob + d], dl);
  }
  delta[id] = dl;
  let L = lse[id];
  for (var j = 0u; j <= i; j++) {
    let tj = b * p.S + j;
    if (mask[tj] == 0u) { continue; }
    let kb = kAt(tj, g);
    let vb = vAt(tj, g);
    var s = 0.0;
    var dp = 0.0;
    for (var d = 0u; d < D; d++) {
      s = fma(q[d], qkv[kb + d], s);
      dp = fma(dO[d], qkv[vb + d], dp);
    }
    let pr = exp(s * p.scale - L);
    let ds = pr * (dp - dl);
    for (var d = 0u; d < D; d++) { dq[d] = fma(ds, qkv[kb + d], dq[d]); }
  }
  for (var d = 0u; d < D; d++) { dqkv[qAt(ti, h) + d] = dq[d] * p.scale; }
}
`;

/**
 * dk/dv: thread (b, h, j) accumulates query head h's contribution to dk_j and dv_j over the
 * queries i ≥ j. With `shares` (grouped-query attention) it writes them to
 * partial[0 | 1][(b·S + j)·H + h][D] (dk unscaled) for the group sum below; without (H = Hkv, so
 * head h is kv head h) it writes dk_j·α and dv_j into dqkv directly.
 */
const BACKWARD_KV_WGSL = (d: number, shares: boolean) => /* wgsl */ `
${COMMON(d)}
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read> dout: array<f32>;
@group(0) @binding(4) var<storage, read> lse: array<f32>;
@group(0) @binding(5) var<storage, read> delta: array<f32>;
@group(0) @binding(6) var<storage, read_write> ${shares ? 'partial' : 'dqkv'}: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let id = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (id >= p.n) { return; }
  let j = id % p.S;
  let h = (id / p.S) % p.H;
  let b = id / (p.S * p.H);
  let g = h / (p.H / p.Hkv);
  let tj = b * p.S + j;
  var k: array<f32, ${d}>;
  var v: array<f32, ${d}>;
  var dk: array<f32, ${d}>;
  var dv: array<f32, ${d}>;
  for (var d = 0u; d < D; d++) {
    k[d] = qkv[kAt(tj, g) + d];
    v[d] = qkv[vAt(tj, g) + d];
    dk[d] = 0.0;
    dv[d] = 0.0;
  }
  if (mask[tj] != 0u) {
    for (var i = j; i < p.S; i++) {
      let ti = b * p.S + i;
      let row = (b * p.H + h) * p.S + i;
      let qb = qAt(ti, h);
      let ob = ti * p.H * D + h * D;
      var s = 0.0;
      var dp = 0.0;
      for (var d = 0u; d < D; d++) {
        s = fma(qkv[qb + d], k[d], s);
        dp = fma(dout[ob + d], v[d], dp);
      }
      let pr = exp(s * p.scale - lse[row]);
      let ds = pr * (dp - delta[row]);
      for (var d = 0u; d < D; d++) {
        dv[d] = fma(pr, dout[ob + d], dv[d]);
        dk[d] = fma(ds, qkv[qb + d], dk[d]);
      }
    }
  }
${shares ? `  let base = (tj * p.H + h) * D;
  let half = p.B * p.S * p.H * D;
  for (var d = 0u; d < D; d++) {
    partial[base + d] = dk[d];
    partial[half + base + d] = dv[d];
  }` : `  for (var d = 0u; d < D; d++) {
    dqkv[kAt(tj, g) + d] = dk[d] * p.scale;
    dqkv[vAt(tj, g) + d] = dv[d];
  }`}
}
`;

/** GQA dk/dv, second pass: thread (b·S + j, g, d) sums its group's shares into dqkv (dk × α). */
const BACKWARD_KV_GROUP_SUM_WGSL = (d: number) => /* wgsl */ `
${COMMON(d)}
@group(0) @binding(1) var<storage, read> partial: array<f32>;
@group(0) @binding(2) var<storage, read_write> dqkv: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let id = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (id >= p.n) { return; }
  let d = id % D;
  let g = (id / D) % p.Hkv;
  let tj = id / (D * p.Hkv);
  let rep = p.H / p.Hkv;
  let half = p.B * p.S * p.H * D;
  var dk = 0.0;
  var dv = 0.0;
  for (var h = g * rep; h < (g + 1u) * rep; h++) {
    dk += partial[(tj * p.H + h) * D + d];
    dv += partial[half + (tj * p.H + h) * D + d];
  }
  dqkv[kAt(tj, g) + d] = dk * p.scale;
  dqkv[vAt(tj, g) + d] = dv;
}
`;

/** Floats of the scratch {@link attentionBackward} needs for grouped-query attention (0 without GQA). */
export function attentionBackwardScratchFloats(s: Pick<AttentionShape, 'batch' | 'seq' | 'heads' | 'kvHeads' | 'headDim'>): number {
  return s.heads > s.kvHeads ? 2 * s.batch * s.seq * s.heads * s.headDim : 0;
}

/** Shape of an attention call. */
export interface AttentionShape {
  /** Sequences. */
  batch: number;
  /** Sequence length (queries = keys). */
  seq: number;
  /** Query heads. */
  heads: number;
  /** Key/value heads (divides `heads`). */
  kvHeads: number;
  /** Head width. */
  headDim: number;
  /** Score scale α (default: 1/√D). */
  scale?: number;
}

function uniforms(ctx: GpuContext, label: string, s: AttentionShape, heads: number, perThread = s.seq) {
  assertShape(s.heads % s.kvHeads === 0, `attention ${label}`, `heads ${s.heads} is not a multiple of kvHeads ${s.kvHeads}`);
  assertShape(s.headDim > 0 && s.headDim <= 256, `attention ${label}`, `headDim ${s.headDim} outside 1…256`);
  const n = s.batch * heads * perThread;
  const groups = grid(n);
  const uniform = ctx.uniform(`${label}.p`, [
    ['u32', s.batch], ['u32', s.seq], ['u32', s.heads], ['u32', s.kvHeads],
    ['u32', n], ['u32', groups[0]], ['f32', s.scale ?? 1 / Math.sqrt(s.headDim)], ['u32', 0],
  ]);
  return { uniform, groups };
}

/** Arguments of {@link attentionForward}. */
export interface AttentionForwardArgs extends AttentionShape {
  /** qkv [B·S, (H + 2·Hkv)·D] (after RoPE, for RoPE models). */
  qkv: Slice;
  /** Key mask [B·S] (u32, 1 = attend). */
  mask: Slice;
  /** out [B·S, H·D]. */
  out: Slice;
  /** Saved log-sum-exp [B, H, S]. */
  lse: Slice;
}

/** o = softmax(α·q·kᵀ + causal/padding mask)·v: one dispatch. */
export function attentionForward(ctx: GpuContext, label: string, a: AttentionForwardArgs): Command {
  const { uniform, groups } = uniforms(ctx, label, a, a.heads);
  const pipeline = ctx.pipeline(`attention_forward_d${a.headDim}`, FORWARD_WGSL(a.headDim));
  return ctx.dispatch(label, pipeline, [uniform, a.qkv, a.mask, a.out, a.lse], groups);
}

/** Arguments of {@link attentionBackward}. */
export interface AttentionBackwardArgs extends AttentionShape {
  /** The forward's qkv. */
  qkv: Slice;
  /** Key mask [B·S]. */
  mask: Slice;
  /** The forward's output [B·S, H·D]. */
  out: Slice;
  /** Gradient of the output [B·S, H·D]. */
  dout: Slice;
  /** The forward's lse [B, H, S]. */
  lse: Slice;
  /** Scratch δ [B, H, S]. */
  delta: Slice;
  /** dqkv [B·S, (H + 2·Hkv)·D] (overwritten, every element). */
  dqkv: Slice;
  /**
   * Scratch of {@link attentionBackwardScratchFloats} floats ([2, B·S, H, D]): required with
   * grouped-query attention (heads > kvHeads), unused otherwise.
   */
  kvScratch?: Slice;
}

/**
 * dq, dk, dv into dqkv: two dispatches (dq and δ, then dk and dv), three with grouped-query
 * attention (dq and δ, each query head's share of dk and dv, the sum over each group).
 */
export function attentionBackward(ctx: GpuContext, label: string, a: AttentionBackwardArgs): Command[] {
  const q = uniforms(ctx, `${label}.q`, a, a.heads);
  const dq = ctx.dispatch(`${label}.q`, ctx.pipeline(`attention_backward_q_d${a.headDim}`, BACKWARD_Q_WGSL(a.headDim)), [q.uniform, a.qkv, a.mask, a.out, a.dout, a.lse, a.delta, a.dqkv], q.groups);
  if (a.heads === a.kvHeads) {
    const kv = uniforms(ctx, `${label}.kv`, a, a.kvHeads);
    return [dq, ctx.dispatch(`${label}.kv`, ctx.pipeline(`attention_backward_kv_d${a.headDim}`, BACKWARD_KV_WGSL(a.headDim, false)), [kv.uniform, a.qkv, a.mask, a.dout, a.lse, a.delta, a.dqkv], kv.groups)];
  }
  assertShape(a.kvScratch !== undefined, `attention ${label}`, `grouped-query attention (heads ${a.heads}, kvHeads ${a.kvHeads}) needs kvScratch of ${attentionBackwardScratchFloats(a)} floats`);
  const share = uniforms(ctx, `${label}.kv`, a, a.heads);
  const groupSum = uniforms(ctx, `${label}.kv.sum`, a, a.kvHeads, a.seq * a.headDim);
  return [
    dq,
    ctx.dispatch(`${label}.kv`, ctx.pipeline(`attention_backward_kv_share_d${a.headDim}`, BACKWARD_KV_WGSL(a.headDim, true)), [share.uniform, a.qkv, a.mask, a.dout, a.lse, a.delta, a.kvScratch!], share.groups),
    ctx.dispatch(`${label}.kv.sum`, ctx.pipeline(`attention_backward_kv_sum_d${a.headDim}`, BACKWARD_KV_GROUP_SUM_WGSL(a.headDim)), [groupSum.uniform, a.kvScratch!, a.dqkv], groupSum.groups),
  ];
}
