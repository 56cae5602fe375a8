import { describe, expect, it } from 'vitest';
import { SeededRng } from './rng.js';

describe('SeededRng', () => {
  it('is deterministic per seed and resumes exactly from its state', () => {
    const a = new SeededRng(7);
    const b = new SeededRng(7);
    expect([a.nextUint32(), a.nextUint32()]).toEqual([b.nextUint32(), b.nextUint32()]);
    const state = a.getState();
    const next = [a.nextUint32(), a.nextFloat(), a.nextInt(10)];
    const c = new SeededRng(0);
    c.setState(state);
    expect([c.nextUint32(), c.nextFloat(), c.nextInt(10)]).toEqual(next);
    expect(new SeededRng(8).nextUint32()).not.toBe(new SeededRng(7).nextUint32());
  });

  it('draws uniform floats and shuffles into permutations', () => {
    const r = new SeededRng(1);
    let sum = 0;
    for (let i = 0; i < 10_000; i++) sum += r.nextFloat();
    expect(sum / 10_000).toBeGreaterThan(0.48);
    expect(sum / 10_000).toBeLessThan(0.52);
    expect(r.shuffle([0, 1, 2, 3, 4, 5]).sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(() => r.setState([1, 2])).toThrowError(/4 uint32 words/);
  });
});
