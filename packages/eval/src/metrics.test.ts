import { describe, expect, it } from 'vitest';

import { EXAMPLE_RECORDS, EXAMPLE_REWRITES, EXAMPLE_SCORES, EXAMPLE_SETTINGS } from './__fixtures__/example.js';
import { compareRewards, computeMetrics, countWords, selectMetric, summarize, winRate } from './metrics.js';
import type { EvaluatedItem, FailedItem, ValidationItem } from './validation-result.js';

/** The example of `__fixtures__/example.ts` as result items (plus one failed prompt). */
function exampleItems(): ValidationItem[] {
  const items: ValidationItem[] = EXAMPLE_RECORDS.map((record, index) => {
    const rewrite = EXAMPLE_REWRITES[record.user_prompt]!;
    const text = typeof rewrite === 'string' ? rewrite : rewrite.text;
    const fallback = typeof rewrite === 'string' ? { used: false } : { used: rewrite.fallback?.used ?? false };
    const original = EXAMPLE_SCORES[record.user_prompt]!;
    const enhanced = EXAMPLE_SCORES[text]!;
    const item: EvaluatedItem = {
      index,
      user_prompt: record.user_prompt,
      category: record.category,
      difficulty: record.difficulty,
      seeds: [index],
      status: 'ok',
      enhanced_prompt: text,
      fallback,
      original: { total: original.total, components: original.components, per_image: [original.total] },
      enhanced: { total: enhanced.total, components: enhanced.components, per_image: [enhanced.total] },
      improvement: enhanced.total - original.total,
      outcome: compareRewards(original.total, enhanced.total, 0),
      words: { original: countWords(record.user_prompt), enhanced: countWords(text) },
    };
    return item;
  });
  const failed: FailedItem = {
    index: 4,
    user_prompt: 'a bird',
    category: 'animals',
    difficulty: 'easy',
    seeds: [4],
    status: 'failed',
    stage: 'render',
    error: 'boom',
    enhanced_prompt: 'a bird, detailed',
    fallback: { used: false },
  };
  return [...items, failed];
}

describe('summarize', () => {
  it('computes mean, Bessel std, min, max and median (odd and even counts)', () => {
    // [7, 2, 7, 9]: mean 6.25, std sqrt(26.75 / 3), median (7 + 7) / 2.
    const even = summarize([7, 2, 7, 9]);
    expect(even).toMatchObject({ count: 4, mean: 6.25, min: 2, max: 9, median: 7 });
    expect(even.std).toBeCloseTo(Math.sqrt(26.75 / 3), 12);
    expect(even.std).toBeCloseTo(2.9860788, 6);
    // [3, 1, 2]: median is the middle value 2; std sqrt(((1)² + (−1)² + 0) / 2) = 1.
    expect(summarize([3, 1, 2])).toEqual({ count: 3, mean: 2, std: 1, min: 1, max: 3, median: 2 });
  });

  it('gives null statistics for empty input and a null std for one value', () => {
    expect(summarize([])).toEqual({ count: 0, mean: null, std: null, min: null, max: null, median: null });
    expect(summarize([5])).toEqual({ count: 1, mean: 5, std: null, min: 5, max: 5, median: 5 });
  });
});

describe('countWords / compareRewards / winRate', () => {
  it('counts whitespace-separated words', () => {
    expect(countWords('  a  red\tfox\n ')).toBe(3);
    expect(countWords('   ')).toBe(0);
    expect(countWords('a tall stone tower at dusk in golden light')).toBe(9);
  });

  it('classifies ties within the tolerance (inclusive)', () => {
    expect(compareRewards(0.5, 0.5)).toBe('tie');
    expect(compareRewards(0.5, 0.75)).toBe('win');
    expect(compareRewards(0.5, 0.25)).toBe('loss');
    expect(compareRewards(0.5, 0.5625, 0.0625)).toBe('tie'); // |Δ| = 0.0625 ≤ 0.0625
    expect(compareRewards(0.5, 0.5625, 0.03125)).toBe('win');
  });

  it('counts ties half', () => {
    expect(winRate(2, 1, 1)).toBe(0.625); // (2 + 0.5) / 4
    expect(winRate(0, 4, 0)).toBe(0.5); // an unchanged rewriter scores exactly 0.5
    expect(winRate(0, 0, 0)).toBeNull();
  });
});

describe('computeMetrics on the hand-computed example', () => {
  const metrics = computeMetrics(exampleItems(), EXAMPLE_SETTINGS);

  it('gives the overall numbers derived in __fixtures__/example.ts', () => {
    expect(metrics.evaluated).toBe(4);
    expect(metrics.original.reward.mean).toBe(0.40625);
    expect(metrics.enhanced.reward.mean).toBe(0.53125);
    expect(metrics.original.reward.std).toBeCloseTo(Math.sqrt(0.23046875 / 3), 12);
    expect(metrics.mean_improvement).toBe(0.125);
    expect([metrics.wins, metrics.ties, metrics.losses]).toEqual([2, 1, 1]);
    expect(metrics.win_rate).toBe(0.625);
    expect(metrics.success_rate).toBe(0.5);
    expect(metrics.enhanced.success_rate).toBe(0.5);
    expect(metrics.original.success_rate).toBe(0.25);
    expect(metrics.improvement_rate).toBe(0.5);
    expect(metrics.fallback_count).toBe(1);
    expect(metrics.fallback_rate).toBe(0.25);
  });

  it('averages components over the prompts that report them', () => {
    expect(metrics.enhanced.components).toEqual({
      aesthetic: { count: 4, mean: 0.265625 },
      length: { count: 2, mean: 0.75 },
      relevance: { count: 4, mean: 0.265625 },
    });
    expect(metrics.original.components.relevance).toEqual({ count: 4, mean: 0.203125 }); // 0.40625 / 2
  });

  it('summarises rewrite and original lengths in words', () => {
    expect(metrics.rewrite_words).toMatchObject({ count: 4, mean: 6.25, min: 2, max: 9, median: 7 });
    expect(metrics.rewrite_words.std).toBeCloseTo(2.9860788, 6);
    expect(metrics.original_words).toMatchObject({ mean: 2.5, min: 2, max: 4, median: 2 });
  });

  it('builds per-category and per-difficulty tables (failed prompts only counted)', () => {
    expect(metrics.by_category).toEqual([
      { key: 'animals', count: 2, failed: 1, original_mean: 0.375, enhanced_mean: 0.625, mean_improvement: 0.25, win_rate: 0.75, success_rate: 0.5, improvement_rate: 0.5 },
      { key: 'architecture', count: 2, failed: 0, original_mean: 0.4375, enhanced_mean: 0.4375, mean_improvement: 0, win_rate: 0.5, success_rate: 0.5, improvement_rate: 0.5 },
    ]);
    expect(metrics.by_difficulty.map((row) => [row.key, row.count, row.failed, row.original_mean, row.enhanced_mean, row.mean_improvement, row.win_rate])).toEqual([
      ['easy', 2, 1, 0.5, 0.5, 0, 0.5],
      ['medium', 1, 0, 0.5, 0.5, 0, 0.5],
      ['hard', 1, 0, 0.125, 0.625, 0.5, 1],
    ]);
  });

  it('selects best-model metrics by name', () => {
    expect(selectMetric(metrics, 'enhanced_mean_reward')).toBe(0.53125);
    expect(selectMetric(metrics, 'win_rate')).toBe(0.625);
    expect(selectMetric(metrics, 'mean_improvement')).toBe(0.125);
  });

  it('gives null rates when every prompt failed', () => {
    const empty = computeMetrics(exampleItems().filter((item) => item.status === 'failed'), EXAMPLE_SETTINGS);
    expect(empty.evaluated).toBe(0);
    expect(empty.win_rate).toBeNull();
    expect(empty.enhanced.reward.mean).toBeNull();
    expect(empty.by_category).toEqual([
      { key: 'animals', count: 0, failed: 1, original_mean: null, enhanced_mean: null, mean_improvement: null, win_rate: null, success_rate: null, improvement_rate: null },
    ]);
  });
});
