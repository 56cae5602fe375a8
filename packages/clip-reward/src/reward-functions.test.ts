import { describe, expect, it } from 'vitest';
import { ClipRewardError } from './errors.js';
import {
  consistencyReward,
  mutualImageSimilarity,
  promptistGate,
  relevanceToOriginalReward,
  scoreCosine,
  similarityReward,
  type RewardContext,
} from './reward-functions.js';
import { l2Normalize } from './vector-math.js';

const unit = (...v: number[]): Float32Array => l2Normalize(v);

function context(partial: Partial<RewardContext>): RewardContext {
  const n = partial.imageEmbeds?.length ?? 0;
  return {
    images: [],
    imageEmbeds: [],
    texts: Array.from({ length: n }, (_, i) => `t${i}`),
    textEmbeds: [],
    groups: Array.from({ length: n }, (_, i) => i),
    details: Array.from({ length: n }, () => ({})),
    ...partial,
  };
}

describe('reward functions', () => {
  it('similarity: CLIP score max(100·cos, 0) or raw cosine', async () => {
    const ctx = context({ imageEmbeds: [unit(1, 0), unit(1, 0), unit(1, 1)], textEmbeds: [unit(1, 0), unit(-1, 0), unit(1, 0)] });
    expect(await similarityReward()(ctx)).toEqual([100, 0, expect.closeTo(100 / Math.SQRT2, 5)]);
    expect(await similarityReward({ mode: 'cosine' })(ctx)).toEqual([expect.closeTo(1, 6), expect.closeTo(-1, 6), expect.closeTo(Math.SQRT1_2, 6)]);
    expect(scoreCosine(-0.2, 'clipScore')).toBe(0);
  });

  it("relevanceToOriginal scores against the original prompt, with Promptist's gate", async () => {
    // cos(image, original) = 0.6 for the first pair, 0.1 for the second
    const ctx = context({
      imageEmbeds: [unit(1, 0), unit(1, 0)],
      textEmbeds: [unit(1, 0), unit(1, 0)],
      originalEmbeds: [unit(0.6, 0.8), unit(0.1, Math.sqrt(0.99))],
    });
    expect(await relevanceToOriginalReward({ mode: 'cosine' })(ctx)).toEqual([expect.closeTo(0.6, 6), expect.closeTo(0.1, 6)]);
    expect(await relevanceToOriginalReward()(ctx)).toEqual([expect.closeTo(60, 4), expect.closeTo(10, 4)]);
    // gate: cos > 0.28 → 0; else 20·cos − 5.6
    expect(await relevanceToOriginalReward({ mode: 'promptistGate' })(ctx)).toEqual([0, expect.closeTo(20 * 0.1 - 5.6, 5)]);
    expect(promptistGate(0.28)).toBeCloseTo(0, 12);
    expect(promptistGate(0.2)).toBeCloseTo(-1.6, 12);
    expect(promptistGate(0.2, 0.3, 10)).toBeCloseTo(-1, 12);
    const noOriginals = context({ imageEmbeds: [unit(1, 0)], textEmbeds: [unit(1, 0)] });
    expect(() => relevanceToOriginalReward()(noOriginals)).toThrow(ClipRewardError);
  });

  it('mutual image similarity averages the cosines with the other images of a group', () => {
    const e = [unit(1, 0), unit(0, 1), unit(1, 1), unit(3, 4)];
    const m = mutualImageSimilarity(e, [0, 0, 0, 1]);
    expect(m[0]).toBeCloseTo((0 + Math.SQRT1_2) / 2, 6);
    expect(m[1]).toBeCloseTo((0 + Math.SQRT1_2) / 2, 6);
    expect(m[2]).toBeCloseTo(Math.SQRT1_2, 6);
    expect(m[3]).toBeUndefined();
  });

  it('consistency mixes text–text and image–image parts over what exists', async () => {
    const ctx = context({
      imageEmbeds: [unit(1, 0), unit(0, 1), unit(1, 0)],
      textEmbeds: [unit(1, 0), unit(1, 0), unit(0, 1)],
      originalEmbeds: [unit(1, 0), unit(0, 1), unit(0, 1)],
      groups: [0, 0, 1],
    });
    // pair 0: text cos 1, image cos with pair 1 = 0 → 0.5; pair 1: text 0, image 0 → 0; pair 2: text 1, no group → 1
    expect(await consistencyReward()(ctx)).toEqual([expect.closeTo(0.5, 6), expect.closeTo(0, 6), expect.closeTo(1, 6)]);
    expect(await consistencyReward({ textWeight: 3, imageWeight: 1 })(ctx)).toEqual([expect.closeTo(0.75, 6), expect.closeTo(0, 6), expect.closeTo(1, 6)]);
    const none = context({ imageEmbeds: [unit(1, 0)], textEmbeds: [unit(1, 0)], groups: [0] });
    expect(() => consistencyReward()(none)).toThrow(/needs originalPrompts/);
  });
});
