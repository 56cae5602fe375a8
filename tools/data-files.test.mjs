// The repository's prompt files must load strictly with @vlm-grpo/data and meet the dataset
// requirements: ≥ 400 train and ≥ 100 validation prompts, distinct, no overlap, ≥ 8 categories,
// every difficulty, and (for the SFT pairs, once present) no validation prompt.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { DIFFICULTIES, PromptDataset, loadPrompts, normalizePromptText } from '@vlm-grpo/data';
import { describe, expect, it } from 'vitest';

const dataDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'data');

describe('data/*.jsonl', () => {
  it('train and validation prompts load strictly and meet the size, category and difficulty bars', async () => {
    const train = await loadPrompts(join(dataDir, 'train_prompts.jsonl'));
    const validation = await loadPrompts(join(dataDir, 'val_prompts.jsonl'));
    expect(train.records.length).toBeGreaterThanOrEqual(400);
    expect(validation.records.length).toBeGreaterThanOrEqual(100);
    expect(train.duplicates).toEqual([]);
    expect(validation.duplicates).toEqual([]);
    for (const loaded of [train, validation]) {
      const counts = new PromptDataset(loaded.records).counts();
      expect(Object.keys(counts.byCategory).length).toBeGreaterThanOrEqual(8);
      for (const difficulty of DIFFICULTIES) expect(counts.byDifficulty[difficulty]).toBeGreaterThan(0);
    }
    const trainKeys = new Set(train.records.map((record) => normalizePromptText(record.user_prompt)));
    const overlap = validation.records.filter((record) => trainKeys.has(normalizePromptText(record.user_prompt)));
    expect(overlap).toEqual([]);
  });

  it.runIf(existsSync(join(dataDir, 'sft_pairs.jsonl')))('SFT pairs load strictly, carry a reference and avoid every validation prompt', async () => {
    const pairs = await loadPrompts(join(dataDir, 'sft_pairs.jsonl'));
    const validation = await loadPrompts(join(dataDir, 'val_prompts.jsonl'));
    expect(pairs.records.length).toBeGreaterThanOrEqual(2000);
    expect(pairs.records.every((record) => typeof record.reference === 'string' && record.reference.length > 0)).toBe(true);
    const validationKeys = new Set(validation.records.map((record) => normalizePromptText(record.user_prompt)));
    expect(pairs.records.filter((record) => validationKeys.has(normalizePromptText(record.user_prompt)))).toEqual([]);
  });
});
