/**
 * Deterministic Gaussian noise for initial latents and stochastic schedulers.
 *
 * Algorithm: Philox4x32-10 counter-based generator (Salmon et al., "Parallel random numbers: as
 * easy as 1, 2, 3", SC 2011; same constants as Random123 and cuRAND), keyed by the 64-bit seed.
 * Each 128-bit block gives two 53-bit uniforms, turned into two standard normals by the
 * Box–Muller transform (float64, then stored as float32).
 *
 * Departure from diffusers: PyTorch's CPU generator is a Mersenne Twister with its own normal
 * sampler, so the same seed does NOT give the same latents as `torch.manual_seed(seed)`. To
 * reproduce a diffusers image exactly, pass its initial latents explicitly (`latents` option).
 * Same seed → same numbers on every machine and Node version (only integer ops and
 * Math.log/cos/sin/sqrt of float64 are used).
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32 values. */
function mulhi32(a: number, b: number): number {
  const a0 = a & 0xffff;
  const a1 = a >>> 16;
  const b0 = b & 0xffff;
  const b1 = b >>> 16;
  const t = a1 * b0 + ((a0 * b0) >>> 16);
  const w1 = (t % 65536) + a0 * b1;
  return (a1 * b1 + Math.floor(t / 65536) + Math.floor(w1 / 65536)) >>> 0;
}

/**
 * One Philox4x32-10 block: encrypts the 128-bit `counter` with the 64-bit `key`.
 * Exposed for the known-answer tests.
 */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number]): [number, number, number, number] {
  let [c0, c1, c2, c3] = counter.map((v) => v >>> 0) as [number, number, number, number];
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi32(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi32(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  return [c0, c1, c2, c3];
}

/** Largest seed accepted: seeds are integers in [0, 2^53). */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** Deterministic random stream (Philox4x32-10 + Box–Muller). */
export class PhiloxGenerator {
  /** The seed this stream was created with. */
  readonly seed: number;
  private readonly key: [number, number];
  private block = 0;
  private spare: number | undefined;

  /** @param seed integer in [0, 2^53). */
  constructor(seed: number) {
    if (!Number.isInteger(seed) || seed < 0 || seed > MAX_SEED) {
      throw new RangeError(`seed must be an integer in [0, 2^53), got ${seed}`);
    }
    this.seed = seed;
    this.key = [seed % 0x100000000, Math.floor(seed / 0x100000000)];
  }

  private nextBlock(): [number, number, number, number] {
    const b = this.block++;
    return philox4x32([b % 0x100000000, Math.floor(b / 0x100000000), 0, 0], this.key);
  }

  /** Next standard normal N(0, 1) as a float64. */
  nextNormal(): number {
    if (this.spare !== undefined) {
      const s = this.spare;
      this.spare = undefined;
      return s;
    }
    const [a, b, c, d] = this.nextBlock();
    // Two 53-bit uniforms; u1 in (0, 1] so the log is finite.
    const u1 = 1 - ((a >>> 5) * 67108864 + (b >>> 6)) / 9007199254740992;
    const u2 = ((c >>> 5) * 67108864 + (d >>> 6)) / 9007199254740992;
    const r = Math.sqrt(-2 * Math.log(u1));
    const theta = 2 * Math.PI * u2;
    this.spare = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** Next uniform in [0, 1) (53-bit). */
  nextUniform(): number {
    const [a, b] = this.nextBlock();
    return ((a >>> 5) * 67108864 + (b >>> 6)) / 9007199254740992;
  }

  /** `n` standard normals as float32 (the shape of a latent tensor flattened in C order). */
  randn(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.nextNormal();
    return out;
  }
}

/** A fresh seed from the platform's cryptographic generator (used when none is given). */
export function randomSeed(): number {
  const words = new Uint32Array(2);
  globalThis.crypto.getRandomValues(words);
  return (words[0]! & 0x1fffff) * 0x100000000 + words[1]!;
}
