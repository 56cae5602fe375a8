/**
 * Casts between fp32 and IEEE binary16 (f16) buffers, for mixed precision: the f16 copies of the
 * fp32 master weights that the f16 matmuls read (matmul-f16.ts), and f16 activations read back as
 * fp32. No derivative: a cast is the identity up to rounding, and the master weights receive the
 * fp32 gradients directly (the backward never goes through these kernels).
 *   castF32ToF16:  h[i] = rne16(x[i])    x: fp32 [n] → h: f16 [n]
 *                  h[i] = rne16(s·x[i])  with `scale`: s read on the GPU (a power of two from
 *                                        kernels/f16-scale.ts: the product is exact, so the
 *                                        rounding is the same RNE as without it)
 *   castF16ToF32:  x[i] = h[i]           exact (every f16 value is an fp32 value)
 * Rounding is done on the bit patterns with integer arithmetic, so it is the same on every
 * device: round to nearest, ties to even; |x| ≥ 65520 (the midpoint above 65504, the largest
 * finite f16) → ±∞; NaN → the quiet NaN 0x7e00 with x's sign; results below 2⁻¹⁴ become f16
 * subnormals (rounded to multiples of 2⁻²⁴), nothing is flushed; −0 stays −0. The f16 side is
 * addressed as packed 32-bit words (two halves each, the lower address in the low 16 bits), so
 * these kernels need no `shader-f16` and any f16 element offset works: a thread writes one word,
 * and keeps the half of a boundary word that lies outside the range.
 */
import { assertShape } from '../errors.js';
import { grid, WG, type Command, type GpuContext, type Slice } from '../gpu.js';

/** WGSL: binary16 bits (low 16 bits of the result) of the fp32 value with bits `b`, RNE. */
export const F32_TO_F16_BITS_WGSL = /* wgsl */ `
fn f32BitsToF16Bits(b: u32) -> u32 {
  let sign = (b >> 16u) & 0x8000u;
  let e = i32((b >> 23u) & 0xffu) - 127;
  let m = b & 0x7fffffu;
  if (e == 128) {
    if (m != 0u) { return sign | 0x7e00u; }
    return sign | 0x7c00u;
  }
  if (e > 15) { return sign | 0x7c00u; }
  if (e >= -14) {
    var h = (u32(e + 15) << 10u) | (m >> 13u);
    let rest = m & 0x1fffu;
    // a carry out of the mantissa bumps the exponent, up to 0x7c00 (∞): that is the right result
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u) == 1u)) { h += 1u; }
    return sign | h;
  }
  if (e < -25) { return sign; }
  // subnormal result: |x| = full · 2^(e−23) = (full >> shift) units of 2⁻²⁴, shift = −e − 1 ∈ [14, 24]
  let full = m | 0x800000u;
  let shift = u32(-e - 1);
  var q = full >> shift;
  let rest = full & ((1u << shift) - 1u);
  let half = 1u << (shift - 1u);
  if (rest > half || (rest == half && (q & 1u) == 1u)) { q += 1u; }
  return sign | q;
}
`;

/** WGSL: fp32 bits of the binary16 value with bits `h` (exact). */
export const F16_BITS_TO_F32_BITS_WGSL = /* wgsl */ `
fn f16BitsToF32Bits(h: u32) -> u32 {
  let sign = (h & 0x8000u) << 16u;
  let e = (h >> 10u) & 0x1fu;
  let m = h & 0x3ffu;
  if (e == 31u) { return sign | 0x7f800000u | (m << 13u); }
  if (e != 0u) { return sign | ((e + 112u) << 23u) | (m << 13u); }
  if (m == 0u) { return sign; }
  // subnormal: m · 2⁻²⁴, normalised (m has 1…10 significant bits)
  let lead = firstLeadingBit(m);
  return sign | ((lead + 103u) << 23u) | ((m << (23u - lead)) & 0x7fffffu);
}
`;

/**
 * fp32 → f16 kernel; `scaled` reads s = scale[offScale] and rounds s·x (one fp32 multiply; the
 * unscaled kernel never does arithmetic on x, so every bit pattern, NaN payloads included, is
 * converted as is).
 */
function toF16Wgsl(scaled: boolean): string {
  const value = (index: string): string => (scaled ? `bitcast<u32>(bitcast<f32>(x[${index}]) * s)` : `x[${index}]`);
  return /* wgsl */ `
struct P { n: u32, offIn: u32, offOut: u32, words: u32, nx: u32, offScale: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> x: array<u32>;           // fp32 bit patterns
@group(0) @binding(2) var<storage, read_write> h: array<u32>;     // f16 pairs
${scaled ? '@group(0) @binding(3) var<storage, read> scale: array<f32>;' : ''}
${F32_TO_F16_BITS_WGSL}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let t = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (t >= p.words) { return; }
  let word = p.offOut / 2u + t;
  let e0 = word * 2u;
  let inLo = e0 >= p.offOut && e0 < p.offOut + p.n;
  let inHi = e0 + 1u >= p.offOut && e0 + 1u < p.offOut + p.n;
  var out = 0u;
  if (!inLo || !inHi) { out = h[word]; }
  ${scaled ? 'let s = scale[p.offScale];' : ''}
  if (inLo) { out = (out & 0xffff0000u) | f32BitsToF16Bits(${value('p.offIn + e0 - p.offOut')}); }
  if (inHi) { out = (out & 0x0000ffffu) | (f32BitsToF16Bits(${value('p.offIn + e0 + 1u - p.offOut')}) << 16u); }
  h[word] = out;
}
`;
}

const TO_F32_WGSL = /* wgsl */ `
struct P { n: u32, offIn: u32, offOut: u32, nx: u32 }
@group(0) @binding(0) var<uniform> p: P;
@group(0) @binding(1) var<storage, read> h: array<u32>;           // f16 pairs
@group(0) @binding(2) var<storage, read_write> x: array<u32>;     // fp32 bit patterns
${F16_BITS_TO_F32_BITS_WGSL}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) l: vec3<u32>) {
  let i = (wg.y * p.nx + wg.x) * ${WG}u + l.x;
  if (i >= p.n) { return; }
  let e = p.offIn + i;
  let bits = (h[e / 2u] >> (16u * (e % 2u))) & 0xffffu;
  x[p.offOut + i] = f16BitsToF32Bits(bits);
}
`;

/** Arguments of {@link castF32ToF16} and {@link castF16ToF32}. */
export interface CastArgs {
  /** Number of elements. */
  n: number;
  /** Source buffer range; `offset` in elements of the source type (default 0). */
  src: { slice: Slice; offset?: number };
  /** Destination buffer range; `offset` in elements of the destination type (default 0). */
  dst: { slice: Slice; offset?: number };
  /**
   * {@link castF32ToF16} only: multiply by s = scale[offset] (fp32, read on the GPU) before
   * rounding, for gradients cast with a loss scale (default: none).
   */
  scale?: { slice: Slice; offset?: number };
}

/**
 * f16 dst[i] = fp32 src[i] (times `scale`, when given) rounded to nearest even (see the file
 * header), i < n. One thread per 32-bit destination word; any f16 offset (the halves outside
 * the range keep their values).
 */
export function castF32ToF16(ctx: GpuContext, label: string, args: CastArgs): Command {
  assertShape(args.n > 0, `castF32ToF16 ${label}`, `empty range n=${args.n}`);
  const offOut = args.dst.offset ?? 0;
  const words = Math.floor((offOut + args.n - 1) / 2) - Math.floor(offOut / 2) + 1;
  const groups = grid(words);
  const uniform = ctx.uniform(`${label}.p`, [
    ['u32', args.n], ['u32', args.src.offset ?? 0], ['u32', offOut], ['u32', words],
    ['u32', groups[0]], ['u32', args.scale?.offset ?? 0], ['u32', 0], ['u32', 0],
  ]);
  if (args.scale) {
    return ctx.dispatch(label, ctx.pipeline('cast_f32_to_f16_scaled', toF16Wgsl(true)), [uniform, args.src.slice, args.dst.slice, args.scale.slice], groups);
  }
  return ctx.dispatch(label, ctx.pipeline('cast_f32_to_f16', toF16Wgsl(false)), [uniform, args.src.slice, args.dst.slice], groups);
}

/** fp32 dst[i] = f16 src[i] (exact), i < n: one thread per element. */
export function castF16ToF32(ctx: GpuContext, label: string, args: CastArgs): Command {
  assertShape(args.n > 0, `castF16ToF32 ${label}`, `empty range n=${args.n}`);
  const groups = grid(args.n);
  const uniform = ctx.uniform(`${label}.p`, [['u32', args.n], ['u32', args.src.offset ?? 0], ['u32', args.dst.offset ?? 0], ['u32', groups[0]]]);
  return ctx.dispatch(label, ctx.pipeline('cast_f16_to_f32', TO_F32_WGSL), [uniform, args.src.slice, args.dst.slice], groups);
}

/** Bytes of an f16 buffer of `n` elements (rounded up to whole 32-bit words, as the casts write them). */
export function f16Bytes(n: number): number {
  return Math.ceil(n / 2) * 4;
}
