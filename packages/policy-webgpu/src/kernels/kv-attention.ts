/**
 * Attention of ONE new query row per sequence over its KV cache (a decode step; inference only,
 * no backward). For sequence r and query head h (GQA: key/value head g = ⌊h / (H / Hkv)⌋):
 *   o = Σ_j softmax_j(α · q·k_j) · v_j   over the slots j ∈ [Lp − plen_r, Lp + step),
 * the prompt's slots and those of the generated tokens fed so far (kv-cache.ts's layout): the
 * causal mask is implicit (the cache holds no later token) and left padding is skipped, so the
 * result equals row Lp + step − 1 of the full causal attention with a padding mask (attention.ts).
 * step = state[0] (the sampler's counter), so a recorded step replays with no host write.
 * q is read from the packed qkv [N, (H + 2·Hkv)·D] (after kv-cache.ts's RoPE), cache [N, Hkv, Smax, D].
 *
 * Kernel: one 64-thread workgroup per (sequence, head). Keys go in chunks of 1,024 slots: the
 * threads compute the scores of a chunk into workgroup memory and its maximum, then the running
 * softmax is rescaled (online softmax: m ← max(m, max_chunk), l ← l·e^{m_old − m} + Σ e^{s − m})
 * and each thread accumulates its own columns d of Σ e^{s − m}·v (coalesced over d), so any
 * context length runs in fixed workgroup memory. A sequence with no visible slot outputs 0.
 */
import { assertShape } from '../errors.js';
import { rowGroups, type Command, type GpuContext, type Slice } from '../gpu.js';
import { ROW_REDUCE } from './reduce.js';

/** Slots scored per chunk (workgroup memory: 4 KiB). */
const CHUNK = 1024;

const WGSL = (d: number) => /* wgsl */ `
struct P { n: u32, h: u32, hkv: u32, w: u32, lp: u32, smax: u32, scale: f32, pad0: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> plen: array<u32>;
@group(0) @binding(3) var<storage, read> qkv: array<f32>;
@group(0) @binding(4) var<storage, read> cacheK: array<f32>;
@group(0) @binding(5) var<storage, read> cacheV: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
const D: u32 = ${d}u;
const PER: u32 = ${Math.ceil(d / 64)}u;
var<workgroup> qs: array<f32, ${d}>;
var<workgroup> sc: array<f32, ${CHUNK}>;
var<workgroup> wStart: u32;
var<workgroup> wEnd: u32;
${ROW_REDUCE}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let id = wg.x + wg.y * 65535u;
  if (id >= p.n) { return; }
  let h = id % p.h;
  let r = id / p.h;
  let g = h / (p.h / p.hkv);
  if (l.x == 0u) {
    wStart = p.lp - min(plen[r], p.lp);
    wEnd = min(p.lp + state[0], p.smax);
  }
  for (var d = l.x; d < D; d += 64u) { qs[d] = qkv[r * p.w + h * D + d]; }
  let start = workgroupUniformLoad(&wStart);
  let end = workgroupUniformLoad(&wEnd);
  let head = (r * p.hkv + g) * p.smax * D;
  var m = -3.0e38;
  var total = 0.0;
  var acc: array<f32, PER>;
  for (var t = 0u; t < PER; t++) { acc[t] = 0.0; }
  for (var c0 = start; c0 < end; c0 += ${CHUNK}u) {
    let c1 = min(end, c0 + ${CHUNK}u);
    var mx = -3.0e38;
    for (var j = c0 + l.x; j < c1; j += 64u) {
      let kb = head + j * D;
      var s = 0.0;
      for (var d = 0u; d < D; d++) { s = fma(qs[d], cacheK[kb + d], s); }
      s *= p.scale;
      sc[j - c0] = s;
      mx = max(mx, s);
    }
    let mNew = max(m, rowMax(mx, l.x));
    let corr = exp(m - mNew);
    var es = 0.0;
    for (var j = c0 + l.x; j < c1; j += 64u) {
      let e = exp(sc[j - c0] - mNew);
      sc[j - c0] = e;
      es += e;
    }
    total = total * corr + rowSum(es, l.x);
    for (var t = 0u; t < PER; t++) {
      let d = l.x + t * 64u;
      if (d < D) {
        var a = acc[t] * corr;
        for (var j = c0; j < c1; j++) { a = fma(sc[j - c0], cacheV[head + j * D + d], a); }
        acc[t] = a;
      }
    }
    m = mNew;
    workgroupBarrier();
  }
  for (var t = 0u; t < PER; t++) {
    let d = l.x + t * 64u;
    if (d < D) {
      var o = 0.0;
      if (total > 0.0) { o = acc[t] / total; }
      out[(r * p.h + h) * D + d] = o;
    }
  }
}
`;

/** Arguments of {@link kvAttention}. */
export interface KvAttentionArgs {
  /** Sequences N. */
  sequences: number;
  /** Query heads H. */
  heads: number;
  /** Key/value heads Hkv (divides H). */
  kvHeads: number;
  /** Head width D (≤ 256). */
  headDim: number;
  /** Prompt slots Lp. */
  promptSlots: number;
  /** Slots per head Smax. */
  slots: number;
  /** Score scale α (default: 1/√D). */
  scale?: number;
  /** [≥ 1] u32: state[0] = tokens sampled so far (the query sits at slot Lp + state[0] − 1). */
  state: Slice;
  /** Prompt length of each sequence [N] (u32, ≤ Lp). */
  promptLengths: Slice;
  /** Packed qkv [N, (H + 2·Hkv)·D] of the new tokens (q heads read). */
  qkv: Slice;
  /** Keys [N, Hkv, Smax, D]. */
  k: Slice;
  /** Values [N, Hkv, Smax, D]. */
  v: Slice;
  /** out [N, H·D]. */
  out: Slice;
}

/** o = softmax(α·q·Kᵀ)·V over each sequence's cached slots: one dispatch of N·H workgroups. */
export function kvAttention(ctx: GpuContext, label: string, a: KvAttentionArgs): Command {
  assertShape(a.heads % a.kvHeads === 0, `kv-attention ${label}`, `heads ${a.heads} is not a multiple of kvHeads ${a.kvHeads}`);
  assertShape(a.headDim > 0 && a.headDim <= 256, `kv-attention ${label}`, `headDim ${a.headDim} outside 1…256`);
  assertShape(a.promptSlots >= 1 && a.promptSlots <= a.slots, `kv-attention ${label}`, `promptSlots ${a.promptSlots} outside 1…slots (${a.slots})`);
  const n = a.sequences * a.heads;
  const uniform = ctx.uniform(`${label}.p`, [
    ['u32', n], ['u32', a.heads], ['u32', a.kvHeads], ['u32', (a.heads + 2 * a.kvHeads) * a.headDim],
    ['u32', a.promptSlots], ['u32', a.slots], ['f32', a.scale ?? 1 / Math.sqrt(a.headDim)], ['u32', 0],
  ]);
  const pipeline = ctx.pipeline(`kv_attention_d${a.headDim}`, WGSL(a.headDim));
  return ctx.dispatch(label, pipeline, [uniform, a.state, a.promptLengths, a.qkv, a.k, a.v, a.out], rowGroups(n));
}
