import { describe, expect, it } from 'vitest';

import { contentWords, lengthInRangeReward, singular, subjectKeptReward, words } from './text-rewards.js';

describe('length_in_range', () => {
  it('is 1 inside the range and falls off linearly outside (hand-computed values)', () => {
    const text = (count: number) => Array.from({ length: count }, (_, index) => `w${index}`).join(' ');
    expect(lengthInRangeReward('', 12, 50)).toBe(0);
    expect(lengthInRangeReward(text(3), 12, 50)).toBe(0.25);
    expect(lengthInRangeReward(text(12), 12, 50)).toBe(1);
    expect(lengthInRangeReward(text(50), 12, 50)).toBe(1);
    expect(lengthInRangeReward(text(60), 12, 50)).toBeCloseTo(0.8, 12);
    expect(lengthInRangeReward(text(100), 12, 50)).toBe(0);
    expect(lengthInRangeReward(text(140), 12, 50)).toBe(0);
    // Punctuation-only tokens are not words.
    expect(words('a cat , -- sitting !')).toEqual(['a', 'cat', 'sitting']);
  });
});

describe('subject_kept', () => {
  it('scores the fraction of the original content words present in the rewrite', () => {
    expect(contentWords('A photo of two Cats on the roof')).toEqual(['photo', 'two', 'cat', 'roof']);
    expect(subjectKeptReward('two cats on a roof', 'a cat sleeping on a red roof at dusk')).toBeCloseTo(2 / 3, 12);
    expect(subjectKeptReward('a cat', 'a majestic lion in the savanna')).toBe(0);
    expect(subjectKeptReward('puppies with boxes', 'a puppy inside a cardboard box, soft light')).toBe(1);
    expect(subjectKeptReward('the', 'anything')).toBe(1);
    expect(singular('glass')).toBe('glass');
    expect(singular('bus')).toBe('bus');
    expect(singular('churches')).toBe('church');
  });
});
