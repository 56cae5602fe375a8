/**
 * Rotary position embedding (Llama/Qwen2, the "rotate half" convention of transformers
 * `apply_rotary_pos_emb`), forward and backward, in place on the query and key heads of the
 * packed qkv [T, (H + 2·Hkv)·D] (columns 0 … (H + Hkv)·D − 1: q heads then k heads).
 * For each head vector x and i < D/2, with θ_i = pos · invFreq_i (invFreq from the config's
 * `rope_theta` and scaling, {@link ropeTables}):
 *   y_i       = x_i·cos θ_i − x_{i+D/2}·sin θ_i
 *   y_{i+D/2} = x_{i+D/2}·cos θ_i + x_i·sin θ_i
 * Local derivative: the map is a rotation by θ_i of each pair, so its transpose rotates by −θ_i:
 *   dx_i = dy_i·cos θ_i + dy_{i+D/2}·sin θ_i,   dx_{i+D/2} = dy_{i+D/2}·cos θ_i − dy_i·sin θ_i.
 * cos and sin come from host-computed tables [T, D/2] (angles rounded to fp32 as transformers
 * does, then cos/sin in double precision): GPU `sin`/`cos` lose accuracy for large angles.
 */
import { assertShape } from '../errors.js';
import { grid, WG, type Command, type GpuContext, type Slice } from '../gpu.js';

const WGSL = /* wgsl */ `
struct P { n: u32, half: u32, heads: u32, width: u32, nx: u32, sign: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> cosT: array<f32>;
@group(0) @binding(2) var<storage, read> sinT: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let id = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (id >= p.n) { return; }
  let i = id % p.half;
  let h = (id / p.half) % p.heads;
  let t = id / (p.half * p.heads);
  let base = t * p.width + h * 2u * p.half;
  let c = cosT[t * p.half + i];
  let s = p.sign * sinT[t * p.half + i];
  let x1 = x[base + i];
  let x2 = x[base + p.half + i];
  x[base + i] = x1 * c - x2 * s;
  x[base + p.half + i] = x2 * c + x1 * s;
}
`;

/** RoPE inverse frequencies, in fp32 as transformers computes them (`default`, `linear`, `llama3`). */
export function ropeInverseFrequencies(
  headDim: number,
  theta: number,
  scaling: { type: 'default' | 'linear' | 'llama3'; factor: number; lowFreqFactor: number; highFreqFactor: number; originalMaxPositions: number },
): Float32Array {
  const f = Math.fround;
  const inv = new Float32Array(headDim / 2);
  for (let i = 0; i < headDim / 2; i += 1) inv[i] = f(1 / f(Math.pow(theta, f((2 * i) / headDim))));
  if (scaling.type === 'linear') for (let i = 0; i < inv.length; i += 1) inv[i] = f(inv[i]! / scaling.factor);
  if (scaling.type === 'llama3') {
    const lowWavelen = scaling.originalMaxPositions / scaling.lowFreqFactor;
    const highWavelen = scaling.originalMaxPositions / scaling.highFreqFactor;
    for (let i = 0; i < inv.length; i += 1) {
      const freq = inv[i]!;
      const wavelen = (2 * Math.PI) / freq;
      if (wavelen > lowWavelen) inv[i] = f(freq / scaling.factor);
      else if (wavelen >= highWavelen) {
        const smooth = (scaling.originalMaxPositions / wavelen - scaling.lowFreqFactor) / (scaling.highFreqFactor - scaling.lowFreqFactor);
        inv[i] = f((1 - smooth) * (freq / scaling.factor) + smooth * freq);
      }
    }
  }
  return inv;
}

/** cos and sin tables [T, D/2] for the positions of T tokens. */
export function ropeTables(positions: ArrayLike<number>, invFreq: Float32Array): { cos: Float32Array; sin: Float32Array } {
  const half = invFreq.length;
  const cos = new Float32Array(positions.length * half);
  const sin = new Float32Array(positions.length * half);
  for (let t = 0; t < positions.length; t += 1) {
    for (let i = 0; i < half; i += 1) {
      const angle = Math.fround(positions[t]! * invFreq[i]!);
      cos[t * half + i] = Math.cos(angle);
      sin[t * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

/** Arguments of {@link ropeForward} / {@link ropeBackward}. */
export interface RopeArgs {
  /** Tokens T. */
  tokens: number;
  /** Heads rotated: the first `heads` head vectors of each row (H + Hkv for packed qkv). */
  heads: number;
  /** Head width D (even). */
  headDim: number;
  /** Row width of x (elements). */
  width: number;
  /** cos [T, D/2]. */
  cos: Slice;
  /** sin [T, D/2]. */
  sin: Slice;
  /** x, rotated in place. */
  x: Slice;
}

function command(ctx: GpuContext, label: string, a: RopeArgs, sign: number): Command {
  assertShape(a.headDim % 2 === 0, `rope ${label}`, `headDim ${a.headDim} must be even`);
  const n = a.tokens * a.heads * (a.headDim / 2);
  const groups = grid(n);
  const uniform = ctx.uniform(`${label}.p`, [
    ['u32', n], ['u32', a.headDim / 2], ['u32', a.heads], ['u32', a.width], ['u32', groups[0]], ['f32', sign], ['u32', 0], ['u32', 0],
  ]);
  return ctx.dispatch(label, ctx.pipeline('rope', WGSL), [uniform, a.cos, a.sin, a.x], groups);
}

/** Rotate q and k heads by θ in place: one dispatch. */
export function ropeForward(ctx: GpuContext, label: string, a: RopeArgs): Command {
  return command(ctx, label, a, 1);
}

/** Rotate the gradients by −θ in place (the transpose of the forward): one dispatch. */
export function ropeBackward(ctx: GpuContext, label: string, a: RopeArgs): Command {
  return command(ctx, label, a, -1);
}
