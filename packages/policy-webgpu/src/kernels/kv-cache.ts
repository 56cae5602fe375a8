/**
 * The KV cache of generation: per layer, keys and values [N, Hkv, Smax, D] (N sequences, Smax
 * slots, slot-major within a head so one head's keys are contiguous). Inference only: no backward.
 *
 * Slot layout of sequence r with a prompt of `plen_r` tokens left-padded to Lp slots: slots
 * Lp − plen_r … Lp − 1 hold the prompt, slot Lp + k the k-th generated token that was fed back;
 * slots 0 … Lp − plen_r − 1 are padding and never read (kv-attention.ts starts at Lp − plen_r).
 *
 * - {@link kvCacheFill} (prefill): copies the k and v heads of the packed qkv rows
 *   [B·Lp, (H + 2·Hkv)·D] of B prompts (after RoPE) into slots 0 … Lp − 1 of N = B·G sequences:
 *   sequence r reads prompt b = ⌊r / G⌋, so the G completions of a prompt share one prefill.
 * - {@link kvCacheAppend} (one decode step): for the packed qkv [N, (H + 2·Hkv)·D] of the new
 *   token of each sequence, rotates its q and k heads by RoPE at the token's position `pos[r]`
 *   (rotate-half convention, as rope.ts, with cos/sin tables [P, D/2] indexed by position; GPT-2:
 *   no rotation), writes the rotated q back in place (kv-attention.ts reads it there) and the
 *   rotated k and the v into slot Lp + step − 1, step = state[0] = tokens sampled so far (the
 *   sampler's counter, sampler.ts), so a recorded step replays with no host write.
 */
import { assertShape } from '../errors.js';
import { grid, WG, type Command, type GpuContext, type Slice } from '../gpu.js';

const FILL_WGSL = /* wgsl */ `
struct P { n: u32, nx: u32, lp: u32, smax: u32, hkv: u32, d: u32, w: u32, kOff: u32, vOff: u32, g: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> qkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> cacheK: array<f32>;
@group(0) @binding(3) var<storage, read_write> cacheV: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let id = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (id >= p.n) { return; }
  let d = id % p.d;
  let j = (id / p.d) % p.lp;
  let h = (id / (p.d * p.lp)) % p.hkv;
  let r = id / (p.d * p.lp * p.hkv);
  let src = ((r / p.g) * p.lp + j) * p.w + h * p.d + d;
  let dst = ((r * p.hkv + h) * p.smax + j) * p.d + d;
  cacheK[dst] = qkv[src + p.kOff];
  cacheV[dst] = qkv[src + p.vOff];
}
`;

const APPEND_WGSL = /* wgsl */ `
struct P { n: u32, nx: u32, half: u32, heads: u32, w: u32, h: u32, hkv: u32, lp: u32, smax: u32, rope: u32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read> pos: array<u32>;
@group(0) @binding(3) var<storage, read> cosT: array<f32>;
@group(0) @binding(4) var<storage, read> sinT: array<f32>;
@group(0) @binding(5) var<storage, read_write> qkv: array<f32>;
@group(0) @binding(6) var<storage, read_write> cacheK: array<f32>;
@group(0) @binding(7) var<storage, read_write> cacheV: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let id = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (id >= p.n) { return; }
  let i = id % p.half;
  let h = (id / p.half) % p.heads;
  let r = id / (p.half * p.heads);
  let base = r * p.w + h * 2u * p.half;
  var y1 = qkv[base + i];
  var y2 = qkv[base + p.half + i];
  if (p.rope == 1u && h < p.h + p.hkv) {
    let t = pos[r] * p.half + i;
    let c = cosT[t];
    let s = sinT[t];
    let x1 = y1;
    y1 = x1 * c - y2 * s;
    y2 = y2 * c + x1 * s;
  }
  if (h < p.h) {
    qkv[base + i] = y1;
    qkv[base + p.half + i] = y2;
    return;
  }
  let slot = p.lp + state[0] - 1u;
  if (slot >= p.smax) { return; }
  var g = h - p.h;
  if (g >= p.hkv) { g = g - p.hkv; }
  let dst = ((r * p.hkv + g) * p.smax + slot) * 2u * p.half;
  if (h < p.h + p.hkv) {
    cacheK[dst + i] = y1;
    cacheK[dst + p.half + i] = y2;
  } else {
    cacheV[dst + i] = y1;
    cacheV[dst + p.half + i] = y2;
  }
}
`;

/** Shape of a KV cache and of the packed qkv rows that feed it. */
export interface KvCacheShape {
  /** Sequences N. */
  sequences: number;
  /** Query heads H. */
  heads: number;
  /** Key/value heads Hkv (divides H). */
  kvHeads: number;
  /** Head width D (even). */
  headDim: number;
  /** Prompt slots Lp (left-padded prompt length). */
  promptSlots: number;
  /** Slots per head Smax (≥ Lp; Lp + the generated tokens fed back). */
  slots: number;
}

function check(label: string, s: KvCacheShape): void {
  assertShape(s.heads % s.kvHeads === 0, `kv-cache ${label}`, `heads ${s.heads} is not a multiple of kvHeads ${s.kvHeads}`);
  assertShape(s.headDim % 2 === 0, `kv-cache ${label}`, `headDim ${s.headDim} must be even`);
  assertShape(s.promptSlots >= 1 && s.promptSlots <= s.slots, `kv-cache ${label}`, `promptSlots ${s.promptSlots} outside 1…slots (${s.slots})`);
}

/** Arguments of {@link kvCacheFill}. */
export interface KvCacheFillArgs extends KvCacheShape {
  /** Completions per prompt G (N = B·G; default: 1). */
  group?: number;
  /** Packed qkv [B·Lp, (H + 2·Hkv)·D] of the prompts (after RoPE). */
  qkv: Slice;
  /** Keys [N, Hkv, Smax, D]. */
  k: Slice;
  /** Values [N, Hkv, Smax, D]. */
  v: Slice;
}

/** Prefill: keys and values of the prompt rows into slots 0 … Lp − 1, one thread per element: one dispatch. */
export function kvCacheFill(ctx: GpuContext, label: string, a: KvCacheFillArgs): Command {
  check(label, a);
  const g = a.group ?? 1;
  assertShape(a.sequences % g === 0, `kv-cache ${label}`, `sequences ${a.sequences} is not a multiple of group ${g}`);
  const n = a.sequences * a.kvHeads * a.promptSlots * a.headDim;
  const groups = grid(n);
  const w = (a.heads + 2 * a.kvHeads) * a.headDim;
  const uniform = ctx.uniform(`${label}.p`, [
    ['u32', n], ['u32', groups[0]], ['u32', a.promptSlots], ['u32', a.slots], ['u32', a.kvHeads], ['u32', a.headDim],
    ['u32', w], ['u32', a.heads * a.headDim], ['u32', (a.heads + a.kvHeads) * a.headDim], ['u32', g], ['u32', 0], ['u32', 0],
  ]);
  return ctx.dispatch(label, ctx.pipeline('kv_cache_fill', FILL_WGSL), [uniform, a.qkv, a.k, a.v], groups);
}

/** Arguments of {@link kvCacheAppend}. */
export interface KvCacheAppendArgs extends KvCacheShape {
  /** [≥ 1] u32: state[0] = tokens sampled so far; the new token goes to slot Lp + state[0] − 1. */
  state: Slice;
  /** Position of each sequence's new token [N] (u32), the row of the cos/sin tables. */
  positions: Slice;
  /** RoPE tables cos and sin [P, D/2] by position, or null (GPT-2: learned positions, no rotation). */
  rope: { cos: Slice; sin: Slice } | null;
  /** Packed qkv [N, (H + 2·Hkv)·D] of the new tokens; q heads rotated in place. */
  qkv: Slice;
  /** Keys [N, Hkv, Smax, D]. */
  k: Slice;
  /** Values [N, Hkv, Smax, D]. */
  v: Slice;
}

/** Decode: RoPE on the new q and k, k and v appended at the current slot: one dispatch. */
export function kvCacheAppend(ctx: GpuContext, label: string, a: KvCacheAppendArgs): Command {
  check(label, a);
  const heads = a.heads + 2 * a.kvHeads;
  const half = a.headDim / 2;
  const n = a.sequences * heads * half;
  const groups = grid(n);
  const uniform = ctx.uniform(`${label}.p`, [
    ['u32', n], ['u32', groups[0]], ['u32', half], ['u32', heads], ['u32', heads * a.headDim], ['u32', a.heads],
    ['u32', a.kvHeads], ['u32', a.promptSlots], ['u32', a.slots], ['u32', a.rope ? 1 : 0], ['u32', 0], ['u32', 0],
  ]);
  const tables = a.rope ?? { cos: a.positions, sin: a.positions };
  return ctx.dispatch(label, ctx.pipeline('kv_cache_append', APPEND_WGSL), [uniform, a.state, a.positions, tables.cos, tables.sin, a.qkv, a.k, a.v], groups);
}
