/**
 * IEEE 754 binary16 on the CPU, for the f16 kernel tests (not exported from the package): encode
 * with round-to-nearest-even (the exact value of a JS number, rounded once; overflow to ±∞, NaN
 * to the quiet NaN 0x7e00, subnormals kept), decode exactly, and round-trip arrays.
 */

/** 2⁻²⁴: the smallest f16 subnormal (unit of the subnormal range). */
const SUBNORMAL_UNIT = 2 ** -24;

/** Round a non-negative number to an integer, ties to even (exact for the dyadic values used here). */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The binary16 bit pattern of `x` rounded to nearest, ties to even. */
export function f16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  // 65520 is the midpoint of 65504 (largest finite, odd mantissa) and 2¹⁶: ties go to ∞.
  if (a >= 65520) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | roundHalfEven(a / SUBNORMAL_UNIT); // 1024 encodes 2⁻¹⁴ itself
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e -= 1;
  if (2 ** (e + 1) <= a) e += 1;
  let m = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (m === 1024) {
    m = 0;
    e += 1;
  }
  return sign | ((e + 15) << 10) | m;
}

/** The value of a binary16 bit pattern (exact). */
export function f16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0) return sign * m * SUBNORMAL_UNIT;
  if (e === 31) return m === 0 ? sign * Infinity : NaN;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

/** `x` rounded to the nearest binary16 value (ties to even). */
export function roundF16(x: number): number {
  return f16Value(f16Bits(x));
}

/** Bit patterns of `values` rounded to binary16, ready to upload as f16 storage. */
export function toF16Array(values: ArrayLike<number>): Uint16Array {
  return Uint16Array.from({ length: values.length }, (_, i) => f16Bits(values[i]!));
}

/** Values of binary16 bit patterns, as float64. */
export function fromF16Array(bits: ArrayLike<number>): Float64Array {
  return Float64Array.from({ length: bits.length }, (_, i) => f16Value(bits[i]!));
}

/** binary16 bit patterns packed two per 32-bit word (little-endian; an odd tail is zero-padded). */
export function packF16(bits: Uint16Array): Uint32Array {
  const words = new Uint32Array(Math.ceil(bits.length / 2));
  new Uint16Array(words.buffer).set(bits);
  return words;
}
