/**
 * On-GPU next-token selection for generation (inference only), one 256-thread workgroup per
 * sequence, in the order of Hugging Face `generate` and of @vlm-grpo/vlm's `sampling.ts` (the tfjs
 * path's reference):
 *   z = x / T  (T = 1 when greedy), reported log-prob logp = z_tok − logΣ_v e^{z_v}
 *     (the model's own tempered distribution, BEFORE penalty and filtering, as the policy port's
 *     `completionLogProbs` and `CausalLM.generate` define it);
 *   repetition penalty p (HF `RepetitionPenaltyLogitsProcessor`): for each token of the context
 *     (prompt + generated), z ← z·p if z < 0 else z/p (applied to z = x/T: the same choice as
 *     penalising x first, the sign is unchanged by T > 0);
 *   no-repeat n-gram (HF `NoRepeatNGramLogitsProcessor`): every token t such that (last n − 1
 *     context tokens, t) already occurs as an n-gram of the context is removed; the context is the
 *     unpadded row (as vlm's sampler: padding never forms or bans an n-gram);
 *   greedy: the first index of the maximum (`torch.argmax`);
 *   otherwise top-k (HF `TopKLogitsWarper`: scores strictly below the k-th largest removed, ties
 *   kept), then top-p (HF `TopPLogitsWarper`: token t kept iff the probability mass of the tokens
 *   ranked above it, under softmax of the kept scores, is < p; the most likely token always
 *   stays), then a draw from softmax of the kept scores by the Gumbel-max trick:
 *   tok = argmax_v (z_v + G_v), G_v = −log(−log u_v), which is distributed exactly as softmax(z)
 *   over the kept tokens (one parallel pass, no prefix sum, no dependence on summation order).
 * The k-th largest score and the top-p boundary are found by bisection over the 32-bit
 * order-preserving key of f32 scores (32 passes each over the vocabulary, each pass a workgroup
 * count or sum), so no sort is needed. Removed tokens hold the finite sentinel −3·10³⁸ (WGSL may
 * assume no infinities).
 * Randomness: a counter-based hash (the PCG output permutation, Jarzynski & Olano 2020, chained:
 * key(seed, sequence, step), then u_v = pcg(pcg(v) ⊕ key)), so a sequence's draws depend only on
 * (seed, its index, step, token id), not on the batch around it, the read-back schedule or the
 * workgroup size. 24-bit uniforms u ∈ (0, 1).
 * Outputs: the scores after every processor (removed = sentinel; observable for tests), the
 * token and its log-prob in a history [steps, N, 2] (u32 token, f32 bits), the token as the next
 * decode input `next[N]`, its position `pos[N]` = plen + step, and the token appended to the
 * context ids [N, Smax] (left-padded slot layout of kv-cache.ts) at slot Lp + step.
 * `step` = state[0] = tokens sampled so far; {@link advanceStep} increments it after the sampler.
 * Departures: top-p ties at the boundary are kept or removed together (HF's order among equal
 * scores is that of `torch.sort`, unspecified); the draws follow a different random stream than
 * the tfjs path's sequential generator (same seed, different tokens: both are exact samples).
 */
import { assertShape } from '../errors.js';
import { rowGroups, type Command, type GpuContext, type Slice, type UniformField } from '../gpu.js';

/** Score of a removed token (finite: WGSL may assume no infinities). */
export const REMOVED_SCORE = -3.0e38;

const WGSL = /* wgsl */ `
struct P {
  n: u32, v: u32, smax: u32, lp: u32,
  greedy: u32, invT: f32, topK: u32, topP: f32,
  penalty: f32, ngram: u32, seedLo: u32, seedHi: u32,
  steps: u32, pad0: u32, pad1: u32, pad2: u32,
}
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> plen: array<u32>;
@group(0) @binding(3) var<storage, read> state: array<u32>;
@group(0) @binding(4) var<storage, read_write> ctxIds: array<u32>;
@group(0) @binding(5) var<storage, read_write> scores: array<f32>;
@group(0) @binding(6) var<storage, read_write> next: array<u32>;
@group(0) @binding(7) var<storage, read_write> pos: array<u32>;
@group(0) @binding(8) var<storage, read_write> history: array<u32>;
const REMOVED: f32 = -3.0e38;
const LIVE: f32 = -1.0e38;
var<workgroup> redF: array<f32, 256>;
var<workgroup> redI: array<u32, 256>;
var<workgroup> wStep: u32;
var<workgroup> wLen: u32;

fn okey(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}
fn pcg(x: u32) -> u32 {
  let s = x * 747796405u + 2891336453u;
  let w = ((s >> ((s >> 28u) + 4u)) ^ s) * 277803737u;
  return (w >> 22u) ^ w;
}
fn sumAll(v: f32, lid: u32) -> f32 {
  redF[lid] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { redF[lid] += redF[lid + s]; }
    workgroupBarrier();
  }
  let out = redF[0];
  workgroupBarrier();
  return out;
}
fn maxAll(v: f32, lid: u32) -> f32 {
  redF[lid] = v;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) { redF[lid] = max(redF[lid], redF[lid + s]); }
    workgroupBarrier();
  }
  let out = redF[0];
  workgroupBarrier();
  return out;
}
// (value, index) maximum, ties to the smaller index.
fn argmaxAll(v: f32, i: u32, lid: u32) -> u32 {
  redF[lid] = v;
  redI[lid] = i;
  workgroupBarrier();
  for (var s = 128u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ov = redF[lid + s];
      let oi = redI[lid + s];
      if (ov > redF[lid] || (ov == redF[lid] && oi < redI[lid])) {
        redF[lid] = ov;
        redI[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  let out = redI[0];
  workgroupBarrier();
  return out;
}

@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let row = wg.x + wg.y * 65535u;
  if (row >= p.n) { return; }
  let lid = l.x;
  let base = row * p.v;
  if (lid == 0u) {
    wStep = state[0];
    wLen = min(plen[row], p.lp);
  }
  let step = workgroupUniformLoad(&wStep);
  let len = workgroupUniformLoad(&wLen);
  let clen = len + step;
  let cstart = row * p.smax + p.lp - len;

  // Tempered scores and the log-partition of the raw tempered distribution (online, per thread).
  var m = REMOVED;
  var s = 0.0;
  for (var v = lid; v < p.v; v += 256u) {
    let z = logits[base + v] * p.invT;
    scores[base + v] = z;
    if (z > m) { s = s * exp(m - z) + 1.0; m = z; } else { s += exp(z - m); }
  }
  let mAll = maxAll(m, lid);
  let lse = mAll + log(sumAll(s * exp(m - mAll), lid));
  storageBarrier();

  if (p.penalty != 1.0) {
    // Every writer of a token writes the same value (computed from the raw logit).
    for (var j = lid; j < clen; j += 256u) {
      let tok = ctxIds[cstart + j];
      let z = logits[base + tok] * p.invT;
      scores[base + tok] = select(z / p.penalty, z * p.penalty, z < 0.0);
    }
    storageBarrier();
  }
  if (p.ngram > 0u && clen + 1u >= p.ngram) {
    let n = p.ngram;
    let tail = cstart + clen + 1u - n;
    for (var i = lid; i + n <= clen; i += 256u) {
      var same = true;
      for (var j = 0u; j + 1u < n; j++) {
        if (ctxIds[cstart + i + j] != ctxIds[tail + j]) { same = false; break; }
      }
      if (same) { scores[base + ctxIds[cstart + i + n - 1u]] = REMOVED; }
    }
    storageBarrier();
  }

  var chosen = 0u;
  if (p.greedy == 1u) {
    var best = -3.4e38;
    var idx = 0xffffffffu;
    for (var v = lid; v < p.v; v += 256u) {
      let z = scores[base + v];
      if (z > best) { best = z; idx = v; }
    }
    chosen = argmaxAll(best, idx, lid);
  } else {
    var kth = 0u;
    if (p.topK > 0u && p.topK < p.v) {
      // Largest key K with #{v : key_v ≥ K} ≥ k: the k-th largest score.
      var lo = 0u;
      var hi = 0xffffffffu;
      for (var it = 0u; it < 32u; it++) {
        let mid = lo + (hi - lo) / 2u + ((hi - lo) & 1u);
        var c = 0.0;
        for (var v = lid; v < p.v; v += 256u) { c += select(0.0, 1.0, okey(scores[base + v]) >= mid); }
        let enough = sumAll(c, lid) >= f32(p.topK);
        lo = select(lo, mid, enough);
        hi = select(mid - 1u, hi, enough);
      }
      kth = lo;
    }
    var pth = 0u;
    if (p.topP < 1.0) {
      var m2 = REMOVED;
      for (var v = lid; v < p.v; v += 256u) {
        let z = scores[base + v];
        if (okey(z) >= kth) { m2 = max(m2, z); }
      }
      m2 = maxAll(m2, lid);
      var s2 = 0.0;
      for (var v = lid; v < p.v; v += 256u) {
        let z = scores[base + v];
        if (okey(z) >= kth && z > LIVE) { s2 += exp(z - m2); }
      }
      let mass = p.topP * sumAll(s2, lid);
      // Smallest key K with mass{key > K} < p: tokens with key ≥ K are kept.
      var lo = 0u;
      var hi = 0xffffffffu;
      for (var it = 0u; it < 32u; it++) {
        let mid = lo + (hi - lo) / 2u;
        var f = 0.0;
        for (var v = lid; v < p.v; v += 256u) {
          let z = scores[base + v];
          let k = okey(z);
          if (k >= kth && k > mid && z > LIVE) { f += exp(z - m2); }
        }
        let below = sumAll(f, lid) < mass;
        hi = select(hi, mid, below);
        lo = select(mid + 1u, lo, below);
      }
      pth = lo;
    }
    let key0 = pcg(p.seedLo ^ pcg(p.seedHi));
    let key = pcg(pcg(key0 ^ row) ^ step);
    var best = -3.4e38;
    var idx = 0xffffffffu;
    for (var v = lid; v < p.v; v += 256u) {
      let z = scores[base + v];
      let k = okey(z);
      let kept = k >= kth && k >= pth && z > LIVE;
      scores[base + v] = select(REMOVED, z, kept);
      if (kept) {
        let u = (f32(pcg(pcg(v) ^ key) >> 8u) + 0.5) * (1.0 / 16777216.0);
        let gz = z - log(-log(u));
        if (gz > best) { best = gz; idx = v; }
      }
    }
    chosen = argmaxAll(best, idx, lid);
  }
  if (lid == 0u) {
    let tok = select(chosen, 0u, chosen >= p.v);
    let logp = logits[base + tok] * p.invT - lse;
    if (step < p.steps) {
      history[(step * p.n + row) * 2u] = tok;
      history[(step * p.n + row) * 2u + 1u] = bitcast<u32>(logp);
    }
    next[row] = tok;
    pos[row] = len + step;
    if (p.lp + step < p.smax) { ctxIds[row * p.smax + p.lp + step] = tok; }
  }
}
`;

const ADVANCE_WGSL = /* wgsl */ `
@group(0) @binding(0) var<storage, read_write> state: array<u32>;
@compute @workgroup_size(1)
fn main() { state[0] = state[0] + 1u; }
`;

/** How the next token is chosen (as @vlm-grpo/vlm's `TokenChoiceOptions`, plus the seed). */
export interface SamplerSettings {
  /** Argmax after the penalty and the n-gram ban (no temperature, top-k, top-p). */
  greedy: boolean;
  /** Temperature T > 0 (ignored when greedy: T = 1). */
  temperature: number;
  /** Keep the k most likely tokens (ties kept); 0 = off. */
  topK: number;
  /** Nucleus mass in (0, 1]; 1 = off. */
  topP: number;
  /** Repetition penalty > 0; 1 = off. */
  repetitionPenalty: number;
  /** Ban repeats of n-grams of this size; 0 = off. */
  noRepeatNgramSize: number;
  /** Seed (an integer; its low 64 bits key the random stream). */
  seed: number;
}

/** Sizes the sampler works on. */
export interface SamplerShape {
  /** Sequences N (rows of logits). */
  sequences: number;
  /** Vocabulary V. */
  vocab: number;
  /** Context slots per sequence Smax (row stride of the context ids). */
  slots: number;
  /** Prompt slots Lp (the prompt ends at slot Lp − 1; generated token k goes to slot Lp + k). */
  promptSlots: number;
  /** Rows of the history (steps recorded). */
  steps: number;
}

/** The uniform block of {@link sampleTokens} (write it with `ctx.uniform` / `ctx.writeUniform`). */
export function samplerFields(shape: SamplerShape, s: SamplerSettings): UniformField[] {
  const seed = Math.trunc(s.seed);
  return [
    ['u32', shape.sequences], ['u32', shape.vocab], ['u32', shape.slots], ['u32', shape.promptSlots],
    ['u32', s.greedy ? 1 : 0], ['f32', s.greedy ? 1 : 1 / s.temperature], ['u32', s.greedy ? 0 : s.topK], ['f32', s.greedy ? 1 : s.topP],
    ['f32', s.repetitionPenalty], ['u32', s.noRepeatNgramSize], ['u32', seed >>> 0], ['u32', Math.floor(seed / 2 ** 32) >>> 0],
    ['u32', shape.steps], ['u32', 0], ['u32', 0], ['u32', 0],
  ];
}

/** Arguments of {@link sampleTokens}. */
export interface SampleTokensArgs extends SamplerShape {
  /** Uniform buffer holding {@link samplerFields}. */
  uniform: GPUBuffer;
  /** Logits [N, V]. */
  logits: Slice;
  /** Prompt length of each sequence [N] (u32, ≤ Lp). */
  promptLengths: Slice;
  /** [≥ 1] u32: state[0] = tokens sampled so far (the step). */
  state: Slice;
  /** Context ids [N, Smax] (u32, left-padded slot layout; the token is appended at Lp + step). */
  context: Slice;
  /** Scratch and output: processed scores [N, V]. */
  scores: Slice;
  /** Out: chosen token [N] (u32; the next decode input). */
  next: Slice;
  /** Out: position of the chosen token [N] (u32: plen + step). */
  positions: Slice;
  /** Out: history [steps, N, 2] (u32 token, f32 log-prob bits). */
  history: Slice;
}

/** Choose one token per sequence (see the file header): one dispatch of N workgroups. */
export function sampleTokens(ctx: GpuContext, label: string, a: SampleTokensArgs): Command {
  assertShape(a.promptSlots >= 1 && a.promptSlots <= a.slots, `sampler ${label}`, `promptSlots ${a.promptSlots} outside 1…slots (${a.slots})`);
  assertShape(a.vocab < 2 ** 24, `sampler ${label}`, `vocabulary ${a.vocab} too large for f32 counts`);
  return ctx.dispatch(label, ctx.pipeline('sampler', WGSL), [a.uniform, a.logits, a.promptLengths, a.state, a.context, a.scores, a.next, a.positions, a.history], rowGroups(a.sequences));
}

/** state[0] += 1 (after the sampler: one more token sampled): one single-thread dispatch. */
export function advanceStep(ctx: GpuContext, label: string, state: Slice): Command {
  return ctx.dispatch(label, ctx.pipeline('sampler_advance', ADVANCE_WGSL), [state], [1, 1, 1]);
}
