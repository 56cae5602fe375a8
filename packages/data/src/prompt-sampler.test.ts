import { describe, expect, it } from 'vitest';

import { PromptDataset } from './prompt-dataset.js';
import type { PromptRecord } from './prompt-record.js';
import { PromptSampler } from './prompt-sampler.js';

const dataset = new PromptDataset(
  Array.from({ length: 23 }, (_, index): PromptRecord => ({ user_prompt: `p${index}`, category: `c${index % 4}`, difficulty: 'easy' })),
);

describe('PromptSampler', () => {
  it('covers each epoch exactly once, with full batches spanning epoch boundaries', () => {
    const sampler = new PromptSampler(dataset, { batchSize: 5, seed: 1 });
    const drawn = Array.from({ length: 23 }, () => sampler.next()).flat().map((record) => record.user_prompt);
    // 23 batches × 5 = 115 = 5 epochs of 23.
    for (let epoch = 0; epoch < 5; epoch++) {
      expect(new Set(drawn.slice(epoch * 23, epoch * 23 + 23)).size).toBe(23);
    }
    expect(sampler.getState()).toEqual({ epoch: 5, offset: 0, batchesDrawn: 23 });
  });

  it('follows the balanced order of PromptDataset for each epoch', () => {
    const sampler = new PromptSampler(dataset, { batchSize: 23, seed: 9 });
    const first = sampler.next().map((record) => record.user_prompt);
    const expected = [...dataset.balancedBatches(23, { seed: 9, epoch: 0 })][0]!.map((record) => record.user_prompt);
    expect(first).toEqual(expected);
    const plain = new PromptSampler(dataset, { batchSize: 23, seed: 9, balanceBy: 'none' }).next();
    expect(plain.map((record) => record.user_prompt)).toEqual([...dataset.batches(23, { seed: 9 })][0]!.map((record) => record.user_prompt));
  });

  it('resumes from a saved state with exactly the batches of an uninterrupted run', () => {
    const uninterrupted = new PromptSampler(dataset, { batchSize: 4, seed: 3 });
    const expected = Array.from({ length: 20 }, () => uninterrupted.next());
    const first = new PromptSampler(dataset, { batchSize: 4, seed: 3 });
    const before = Array.from({ length: 7 }, () => first.next());
    const state = JSON.parse(JSON.stringify(first.getState()));
    const resumed = new PromptSampler(dataset, { batchSize: 4, seed: 3 });
    resumed.setState(state);
    const after = Array.from({ length: 13 }, () => resumed.next());
    expect([...before, ...after]).toEqual(expected);
  });

  it('rejects empty datasets, bad sizes and bad states', () => {
    expect(() => new PromptSampler(new PromptDataset([]), { batchSize: 2 })).toThrow(/no records/);
    expect(() => new PromptSampler(dataset, { batchSize: 0 })).toThrow(/batchSize/);
    const sampler = new PromptSampler(dataset, { batchSize: 2 });
    expect(() => sampler.setState({ epoch: 0, offset: 23, batchesDrawn: 0 })).toThrow(/invalid state/);
    expect(() => sampler.setState({ epoch: -1, offset: 0, batchesDrawn: 0 })).toThrow(/invalid state/);
  });
});
