import { describe, expect, it } from 'vitest';

import { PromptDataset, repeatByGroup, stratumOf, type StratifyKey } from './prompt-dataset.js';
import { DIFFICULTIES, type PromptRecord } from './prompt-record.js';
import { createSeededRandom } from './seeded-random.js';

/** A dataset with uneven strata: category `c{k}` has 3 + 2k records, difficulties rotate. */
function unevenDataset(categories = 5): PromptDataset {
  const records: PromptRecord[] = [];
  for (let category = 0; category < categories; category++) {
    for (let item = 0; item < 3 + 2 * category; item++) {
      records.push({ user_prompt: `prompt ${category}-${item}`, category: `c${category}`, difficulty: DIFFICULTIES[(category + item) % 3]! });
    }
  }
  return new PromptDataset(records);
}

/** A random dataset for property tests, drawn from `seed`. */
function randomDataset(seed: number): PromptDataset {
  const random = createSeededRandom(seed);
  const size = 1 + random.nextInt(80);
  const categoryCount = 1 + random.nextInt(9);
  return new PromptDataset(
    Array.from({ length: size }, (_, index) => ({
      user_prompt: `p${index}`,
      category: `c${random.nextInt(categoryCount)}`,
      difficulty: DIFFICULTIES[random.nextInt(3)]!,
    })),
  );
}

const promptsOf = (batches: Iterable<PromptRecord[]>) => [...batches].flat().map((record) => record.user_prompt);

describe('PromptDataset basics', () => {
  const dataset = unevenDataset(3);

  it('counts per category and difficulty', () => {
    const counts = dataset.counts();
    expect(counts.total).toBe(3 + 5 + 7);
    expect(counts.byCategory).toEqual({ c0: 3, c1: 5, c2: 7 });
    expect(counts.byDifficulty.easy + counts.byDifficulty.medium + counts.byDifficulty.hard).toBe(15);
    expect(counts.byCategoryAndDifficulty.c0).toEqual({ easy: 1, medium: 1, hard: 1 });
    expect(dataset.categories()).toEqual(['c0', 'c1', 'c2']);
  });

  it('filters by category, difficulty and predicate', () => {
    expect(dataset.filter({ categories: ['c1'] }).size).toBe(5);
    const hard = dataset.filter({ difficulties: ['hard'] });
    expect(hard.records.every((record) => record.difficulty === 'hard')).toBe(true);
    expect(dataset.filter({ categories: ['c2'], where: (record) => record.user_prompt.endsWith('-0') }).size).toBe(1);
    expect(dataset.filter({}).size).toBe(dataset.size);
  });

  it('rejects bad batch sizes and stratify keys', () => {
    expect(() => [...dataset.batches(0)]).toThrow(/batch size must be a positive integer/);
    expect(() => [...dataset.balancedBatches(2.5)]).toThrow(/positive integer/);
    expect(() => [...dataset.balancedBatches(2, { by: 'colour' as StratifyKey })]).toThrow(/stratify key/);
    expect(() => dataset.split({ validationFraction: 1 })).toThrow(/validationFraction/);
  });
});

describe('sampler properties (200 random datasets)', () => {
  const seeds = Array.from({ length: 200 }, (_, index) => index);

  it('visits every prompt exactly once per epoch, for plain and balanced batches', () => {
    for (const seed of seeds) {
      const dataset = randomDataset(seed);
      const all = dataset.records.map((record) => record.user_prompt).sort();
      const batchSize = 1 + (seed % 7);
      expect(promptsOf(dataset.batches(batchSize, { seed, epoch: seed % 3 })).sort()).toEqual(all);
      for (const by of ['category', 'difficulty', 'categoryAndDifficulty'] as const) {
        expect(promptsOf(dataset.balancedBatches(batchSize, { seed, by })).sort()).toEqual(all);
      }
    }
  });

  it('keeps every batch balanced within ±1 across strata that still have prompts', () => {
    for (const seed of seeds) {
      const dataset = randomDataset(seed);
      const by: StratifyKey = seed % 2 === 0 ? 'category' : 'difficulty';
      const remaining = new Map<string, number>();
      for (const record of dataset.records) remaining.set(stratumOf(record, by), (remaining.get(stratumOf(record, by)) ?? 0) + 1);
      for (const batch of dataset.balancedBatches(2 + (seed % 9), { seed, by })) {
        const inBatch = new Map<string, number>();
        for (const record of batch) inBatch.set(stratumOf(record, by), (inBatch.get(stratumOf(record, by)) ?? 0) + 1);
        // Strata that are not exhausted by the end of this batch were available throughout it.
        const active = [...remaining].filter(([key, count]) => count > (inBatch.get(key) ?? 0)).map(([key]) => inBatch.get(key) ?? 0);
        if (active.length > 0) {
          expect(Math.max(...active) - Math.min(...active)).toBeLessThanOrEqual(1);
          // No exhausted stratum appears more often than an active one, plus one.
          expect(Math.max(...inBatch.values())).toBeLessThanOrEqual(Math.min(...active) + 1);
        }
        for (const [key, count] of inBatch) remaining.set(key, remaining.get(key)! - count);
      }
    }
  });

  it('gives the same order for the same seed and epoch, and another for a new epoch or seed', () => {
    const dataset = unevenDataset(6);
    const order = (seed: number, epoch: number) => promptsOf(dataset.balancedBatches(4, { seed, epoch }));
    expect(order(3, 0)).toEqual(order(3, 0));
    expect(order(3, 1)).not.toEqual(order(3, 0));
    expect(order(4, 0)).not.toEqual(order(3, 0));
    expect(promptsOf(dataset.batches(5, { seed: 3 }))).toEqual(promptsOf(dataset.batches(5, { seed: 3 })));
    expect(promptsOf(dataset.batches(5, { shuffle: false }))).toEqual(dataset.records.map((record) => record.user_prompt));
  });

  it('drops a short last batch only on request', () => {
    const dataset = unevenDataset(2); // 3 + 5 = 8 records
    expect([...dataset.batches(3)].map((batch) => batch.length)).toEqual([3, 3, 2]);
    expect([...dataset.batches(3, { dropLast: true })].map((batch) => batch.length)).toEqual([3, 3]);
  });
});

describe('split', () => {
  it('is seeded, disjoint, complete and stratified', () => {
    const dataset = unevenDataset(5);
    const { train, validation } = dataset.split({ validationFraction: 0.25, seed: 7 });
    const trainPrompts = train.records.map((record) => record.user_prompt);
    const validationPrompts = validation.records.map((record) => record.user_prompt);
    expect(new Set([...trainPrompts, ...validationPrompts]).size).toBe(dataset.size);
    expect(trainPrompts.length + validationPrompts.length).toBe(dataset.size);
    // Every category × difficulty stratum with ≥ 2 records gives at least one to validation.
    const strata = dataset.counts().byCategoryAndDifficulty;
    const validationStrata = validation.counts().byCategoryAndDifficulty;
    for (const [category, byDifficulty] of Object.entries(strata)) {
      for (const difficulty of DIFFICULTIES) {
        const total = byDifficulty[difficulty];
        const taken = validationStrata[category]?.[difficulty] ?? 0;
        if (total >= 2) expect(taken).toBeGreaterThanOrEqual(1);
        expect(taken).toBeLessThan(Math.max(total, 1));
        expect(taken).toBe(total >= 2 ? Math.min(Math.max(Math.round(total * 0.25), 1), total - 1) : 0);
      }
    }
    expect(dataset.split({ validationFraction: 0.25, seed: 7 }).validation.records).toEqual(validation.records);
    expect(dataset.split({ validationFraction: 0.25, seed: 8 }).validation.records).not.toEqual(validation.records);
  });
});

describe('repeatByGroup', () => {
  it('repeats each item G times, adjacent', () => {
    expect(repeatByGroup(['a', 'b'], 3)).toEqual(['a', 'a', 'a', 'b', 'b', 'b']);
    expect(repeatByGroup([], 4)).toEqual([]);
    expect(() => repeatByGroup(['a'], 0)).toThrow(/groupSize/);
  });
});
