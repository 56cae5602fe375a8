/**
 * Seeded pseudo-random numbers for reproducible sampling.
 *
 * Algorithm: SplitMix32-style seeding into xoshiro128** (Blackman & Vigna), 32-bit state words.
 * The same seed gives the same sequence on every platform and Node version (integer arithmetic
 * only, `Math.imul` and unsigned shifts).
 */

/** A deterministic random source. */
export interface SeededRandom {
  /** Next unsigned 32-bit integer. */
  nextUint32(): number;
  /** Next float in [0, 1) with 32 bits of randomness. */
  nextFloat(): number;
  /** Uniform integer in [0, bound) without modulo bias. `bound` must be a positive integer ≤ 2^32. */
  nextInt(bound: number): number;
  /** Current internal state (four 32-bit words), for checkpoints. */
  getState(): [number, number, number, number];
}

function splitMix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * Mix several integers (a seed and, e.g., an epoch number) into one 32-bit seed.
 * `deriveSeed(seed, epoch)` gives unrelated streams for consecutive epochs.
 */
export function deriveSeed(...parts: number[]): number {
  let hash = 0x811c9dc5;
  for (const part of parts) {
    if (!Number.isSafeInteger(part)) throw new RangeError(`deriveSeed: expected safe integers, received ${part}`);
    const low = part >>> 0;
    const high = Math.floor(part / 2 ** 32) >>> 0;
    for (const word of [low, high]) {
      hash = Math.imul(hash ^ word, 0x01000193) >>> 0;
      hash = splitMix32(hash)();
    }
  }
  return hash >>> 0;
}

/**
 * Create a seeded random source. `seed` is any safe integer; `state` (from `getState()`) restores
 * a source exactly where it was.
 */
export function createSeededRandom(seed: number, state?: readonly number[]): SeededRandom {
  const words = new Uint32Array(4);
  if (state) {
    if (state.length !== 4) throw new RangeError(`SeededRandom state must have 4 words, received ${state.length}`);
    words.set(state.map((value) => value >>> 0));
  } else {
    const next = splitMix32(deriveSeed(seed));
    for (let index = 0; index < 4; index++) words[index] = next();
    if ((words[0] | words[1] | words[2] | words[3]) === 0) words[0] = 1;
  }
  const rotl = (value: number, shift: number) => ((value << shift) | (value >>> (32 - shift))) >>> 0;
  const nextUint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(words[1], 5) >>> 0, 7), 9) >>> 0;
    const shifted = (words[1] << 9) >>> 0;
    words[2] ^= words[0];
    words[3] ^= words[1];
    words[1] ^= words[2];
    words[0] ^= words[3];
    words[2] ^= shifted;
    words[3] = rotl(words[3], 11);
    return result;
  };
  return {
    nextUint32,
    nextFloat: () => nextUint32() / 2 ** 32,
    nextInt(bound: number): number {
      if (!Number.isInteger(bound) || bound <= 0 || bound > 2 ** 32) {
        throw new RangeError(`nextInt: bound must be an integer in [1, 2^32], received ${bound}`);
      }
      const limit = 2 ** 32 - (2 ** 32 % bound);
      for (;;) {
        const value = nextUint32();
        if (value < limit) return value % bound;
      }
    },
    getState: () => [words[0], words[1], words[2], words[3]],
  };
}

/** Fisher–Yates shuffle of `items` in place with `random`; returns the same array. */
export function shuffleInPlace<T>(items: T[], random: SeededRandom): T[] {
  for (let index = items.length - 1; index > 0; index--) {
    const other = random.nextInt(index + 1);
    const held = items[index]!;
    items[index] = items[other]!;
    items[other] = held;
  }
  return items;
}
