import { describe, expect, it } from 'vitest';

import { createSeededRandom, deriveSeed, shuffleInPlace } from './seeded-random.js';

describe('createSeededRandom', () => {
  it('gives the same sequence for the same seed and different ones for other seeds', () => {
    const take = (seed: number) => {
      const random = createSeededRandom(seed);
      return Array.from({ length: 8 }, () => random.nextUint32());
    };
    expect(take(42)).toEqual(take(42));
    expect(take(42)).not.toEqual(take(43));
    for (const value of take(1)) expect(Number.isInteger(value) && value >= 0 && value < 2 ** 32).toBe(true);
  });

  it('matches the xoshiro128** reference sequence from state [1, 2, 3, 4]', () => {
    // Reference outputs of Vigna's xoshiro128starstar.c for s = {1, 2, 3, 4}; the first is
    // rotl(2·5, 7)·9 = 1280·9 = 11520 by hand.
    const random = createSeededRandom(0, [1, 2, 3, 4]);
    expect(Array.from({ length: 4 }, () => random.nextUint32())).toEqual([11520, 0, 5927040, 70819200]);
  });

  it('is pinned for seed 0, so seeded orders stay stable across releases', () => {
    const random = createSeededRandom(0);
    // Pinned from this implementation: a change here changes every seeded order users rely on.
    expect([random.nextUint32(), random.nextUint32(), random.nextUint32()]).toEqual([2584710012, 2952085996, 4192825304]);
  });

  it('restores exactly from getState()', () => {
    const random = createSeededRandom(9);
    for (let step = 0; step < 5; step++) random.nextUint32();
    const restored = createSeededRandom(0, random.getState());
    expect(Array.from({ length: 5 }, () => restored.nextUint32())).toEqual(Array.from({ length: 5 }, () => random.nextUint32()));
  });

  it('draws nextInt uniformly without bias', () => {
    const random = createSeededRandom(5);
    const counts = new Array<number>(6).fill(0);
    const draws = 60_000;
    for (let draw = 0; draw < draws; draw++) counts[random.nextInt(6)]! += 1;
    // Each bucket expects 10 000 with standard deviation ≈ 91; 5σ bounds.
    for (const count of counts) expect(Math.abs(count - draws / 6)).toBeLessThan(460);
    expect(() => random.nextInt(0)).toThrow(RangeError);
    expect(() => random.nextInt(2.5)).toThrow(RangeError);
  });

  it('draws floats in [0, 1) with mean ≈ 0.5', () => {
    const random = createSeededRandom(11);
    let sum = 0;
    for (let draw = 0; draw < 20_000; draw++) {
      const value = random.nextFloat();
      expect(value >= 0 && value < 1).toBe(true);
      sum += value;
    }
    // Standard error of the mean: sqrt(1/12 / 20000) ≈ 0.002.
    expect(Math.abs(sum / 20_000 - 0.5)).toBeLessThan(0.01);
  });
});

describe('deriveSeed', () => {
  it('separates streams by every part and rejects non-integers', () => {
    expect(deriveSeed(1, 0)).toBe(deriveSeed(1, 0));
    expect(deriveSeed(1, 0)).not.toBe(deriveSeed(1, 1));
    expect(deriveSeed(1, 0)).not.toBe(deriveSeed(0, 1));
    expect(deriveSeed(2 ** 40)).not.toBe(deriveSeed(0));
    expect(() => deriveSeed(0.5)).toThrow(RangeError);
  });
});

describe('shuffleInPlace', () => {
  it('returns a permutation and visits every position', () => {
    const positionsSeen = Array.from({ length: 5 }, () => new Set<number>());
    for (let seed = 0; seed < 200; seed++) {
      const items = shuffleInPlace([0, 1, 2, 3, 4], createSeededRandom(seed));
      expect([...items].sort()).toEqual([0, 1, 2, 3, 4]);
      items.forEach((item, position) => positionsSeen[item]!.add(position));
    }
    for (const seen of positionsSeen) expect(seen.size).toBe(5);
  });
});
