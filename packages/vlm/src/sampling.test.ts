import { createSeededRandom } from '@vlm-grpo/data';
import { describe, expect, it } from 'vitest';
import { applyNoRepeatNgram, bannedNgramTokens, chooseToken } from './sampling.js';

const GREEDY = { greedy: true, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1 };

describe('no-repeat n-gram (HF NoRepeatNGramLogitsProcessor)', () => {
  // Sequence so far: 1 2 4 1 2 (length 5).
  const context = [1, 2, 4, 1, 2];

  it('bans the tokens that follow earlier occurrences of the last n − 1 tokens', () => {
    expect([...bannedNgramTokens(context, 3)]).toEqual([4]); // (1 2) was followed by 4
    expect([...bannedNgramTokens(context, 2)]).toEqual([4]); // (2) was followed by 4
    expect([...bannedNgramTokens(context, 1)].sort()).toEqual([1, 2, 4]); // n = 1: every token seen
    expect([...bannedNgramTokens([7, 8, 7, 9, 7], 2)].sort()).toEqual([8, 9]); // (7) → 8 and 9
    expect(bannedNgramTokens(context, 6).size).toBe(0); // the 5-token suffix never occurred before
    expect(bannedNgramTokens(context, 7).size).toBe(0); // cur_len + 1 < n: nothing banned
    expect(bannedNgramTokens(context, 0).size).toBe(0); // off
  });

  it('sets banned scores to −∞ and changes greedy and sampled choices (hand-computed logits)', () => {
    const logits = [0.5, 1.0, 1.2, -1.0, 3.0];
    const scores = Float64Array.from(logits);
    applyNoRepeatNgram(scores, context, 3);
    expect(Array.from(scores)).toEqual([0.5, 1.0, 1.2, -1.0, Number.NEGATIVE_INFINITY]);
    expect(chooseToken(logits, context, GREEDY, createSeededRandom(1))).toBe(4);
    expect(chooseToken(logits, context, { ...GREEDY, noRepeatNgramSize: 3 }, createSeededRandom(1))).toBe(2);
    // After the repetition penalty 2 (HF order: penalty, then the ban): 0.5, 0.5, 0.6, −1, −∞ → 2.
    expect(chooseToken(logits, context, { ...GREEDY, repetitionPenalty: 2, noRepeatNgramSize: 3 }, createSeededRandom(1))).toBe(2);
    // n = 1 bans 1, 2 and 4: greedy takes token 0 (0.5 > −1.0).
    expect(chooseToken(logits, context, { ...GREEDY, noRepeatNgramSize: 1 }, createSeededRandom(1))).toBe(0);
    // Sampling never draws a banned token, even the most likely one.
    const random = createSeededRandom(5);
    const drawn = new Set<number>();
    for (let i = 0; i < 200; i += 1) drawn.add(chooseToken(logits, context, { ...GREEDY, greedy: false, temperature: 2, noRepeatNgramSize: 3 }, random));
    expect(drawn.has(4)).toBe(false);
    expect([...drawn].sort()).toEqual([0, 1, 2, 3]);
  });
});
