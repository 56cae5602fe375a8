import { deriveSeed } from '@vlm-grpo/data';
import type { RewardContext } from '@vlm-grpo/grpo';
import { describe, expect, it } from 'vitest';

import { trainerConfigSchema } from '../config/config-schema.js';
import type { ImageRenderer, ImageRewardModel, RenderedImage } from '../system/ports.js';
import { adaptImageRewards, adaptRenderer } from '../system/load-components.js';
import { RunningNormalizer, TrainingRewards } from './training-rewards.js';

const image = (value: number): RenderedImage => ({ width: 1, height: 1, data: new Uint8Array([value, value, value]) });

function context(completions: string[], prompts: string[], step = 3): RewardContext {
  return {
    prompts,
    completions,
    completionIds: completions.map(() => [1]),
    promptIds: completions.map(() => [1]),
    truncated: completions.map(() => false),
    records: completions.map(() => ({})),
    groupIndices: completions.map((_, index) => Math.floor(index / 2)),
    step,
  };
}

describe('TrainingRewards', () => {
  const config = trainerConfigSchema.parse({
    training_settings: { seed: 11, num_generations: 2 },
    diffusion_settings: { images_per_prompt: 2 },
    reward_settings: { similarity: { weight: 0.5 }, quality: { weight: 0 }, relevance_to_original: { weight: 1, normalization: 'running_zscore' }, length_in_range: { weight: 1, min_words: 2, max_words: 4 }, subject_kept: { weight: 2 } },
  });

  it('renders every rewrite of a group from the same seeds, averages images, and scores against the original prompt', async () => {
    const calls: { prompts: string[]; seeds: number[] }[] = [];
    let active = 0;
    let overlapped = false;
    const renderer: ImageRenderer = {
      async render(prompts, { seeds }) {
        calls.push({ prompts, seeds });
        active++;
        await new Promise((wake) => setTimeout(wake, 5));
        active--;
        return prompts.map((prompt, index) => image((prompt.length + index) % 255));
      },
    };
    const seen: { originals: string[]; prompts: string[] }[] = [];
    const scorer: ImageRewardModel = {
      async components(images, originals, prompts) {
        if (active > 0) overlapped = true;
        seen.push({ originals, prompts });
        return images.map((item) => ({ relevance_to_original: item.data[0]!, similarity: 2 * item.data[0]! }));
      },
    };
    const rewards = new TrainingRewards({ config, renderer, imageRewards: scorer });
    expect(rewards.functions.map((f) => f.name)).toEqual(['relevance_to_original', 'similarity', 'length_in_range', 'subject_kept']);
    expect(rewards.weights).toEqual([1, 0.5, 1, 2]);
    const ctx = context(['a red cat', 'cat sat', 'a dog runs fast today', ''], ['a cat', 'a cat', 'a dog', 'a dog']);
    const values = await Promise.all(rewards.functions.map((f) => f.fn(ctx)));
    // Group k at step 3: images j = 0, 1 use deriveSeed(11, 3, k, j) for both rewrites of the group.
    expect(calls).toEqual([
      { prompts: ['a red cat', 'a red cat', 'cat sat', 'cat sat'], seeds: [deriveSeed(11, 3, 0, 0), deriveSeed(11, 3, 0, 1), deriveSeed(11, 3, 0, 0), deriveSeed(11, 3, 0, 1)] },
      { prompts: ['a dog runs fast today', 'a dog runs fast today', '', ''], seeds: [deriveSeed(11, 3, 1, 0), deriveSeed(11, 3, 1, 1), deriveSeed(11, 3, 1, 0), deriveSeed(11, 3, 1, 1)] },
    ]);
    expect(overlapped).toBe(true);
    // Relevance is scored against the original; an empty rewrite is scored with the original text.
    expect(seen[1]).toEqual({ originals: ['a dog', 'a dog', 'a dog', 'a dog'], prompts: ['a dog runs fast today', 'a dog runs fast today', 'a dog', 'a dog'] });
    // similarity = mean over the two images of 2·pixel; the fake images of a call have values
    // (length of the prompt + position in the call): rewrite 0 → 9 and 10, rewrite 3 ('') → 2 and 3.
    expect(values[1]).toEqual([19, 19, 43, 5]);
    expect(values[2]).toEqual([1, 1, 0.75, 0]);
    expect(values[3]).toEqual([1, 1, 1, 0]);
    // Relevance is z-scored with the running statistics of these four values (9.5, 9.5, 21.5, 2.5).
    const raw = [9.5, 9.5, 21.5, 2.5];
    const m = raw.reduce((a, b) => a + b) / 4;
    const sd = Math.sqrt(raw.reduce((a, b) => a + (b - m) ** 2, 0) / 3);
    (values[0] as number[]).forEach((value, index) => expect(value).toBeCloseTo((raw[index]! - m) / sd, 12));
    expect(rewards.takeReport()).toMatchObject({ failures: [], images: 8 });
    expect(rewards.getState()['relevance_to_original']).toMatchObject({ count: 4 });
  });

  it('gives null from every function to a sample whose image fails, and records why', async () => {
    const renderer: ImageRenderer = { render: async (prompts) => prompts.map((prompt) => (prompt === 'bad' ? new Error('NaN latents') : image(10))) };
    const scorer: ImageRewardModel = { components: async (images) => images.map(() => ({ relevance_to_original: 1, similarity: 1 })) };
    const rewards = new TrainingRewards({ config, renderer, imageRewards: scorer });
    const ctx = context(['good one', 'bad'], ['x', 'x']);
    const values = await Promise.all(rewards.functions.map((f) => f.fn(ctx)));
    for (const list of values) expect(list[1]).toBeNull();
    expect(values[3]![0]).toBe(0);
    expect(rewards.takeReport().failures).toEqual([{ stage: 'rendering', sample: 1, message: 'NaN latents' }]);
  });
});

describe('RunningNormalizer', () => {
  it('matches Welford mean and sample standard deviation, restored from its state', () => {
    const normalizer = new RunningNormalizer();
    expect(normalizer.updateAndNormalize([1, 2, 3, null])).toEqual([-1, 0, 1, null]);
    const copy = new RunningNormalizer();
    copy.setState(normalizer.getState());
    // After 1, 2, 3, 4: mean 2.5, sample std sqrt(5/3).
    expect(copy.updateAndNormalize([4])[0]).toBeCloseTo(1.5 / Math.sqrt(5 / 3), 12);
  });
});

describe('package adapters', () => {
  it('retries a failed CLIP batch image by image so one bad item fails alone', async () => {
    const calculator = {
      async calculateRewards(images: unknown[], texts: string[]) {
        if (texts.some((text) => text === '')) throw new Error('texts[1] is empty');
        return images.map(() => ({ total: 1, raw: { relevanceToOriginal: 0.3, similarity: 30, quality: 0.9 } }));
      },
    };
    const out = await adaptImageRewards(calculator).components([image(1), image(2)], ['a', 'b'], ['a cat', '']);
    expect(out[0]).toEqual({ relevance_to_original: 0.3, similarity: 30, quality: 0.9 });
    expect(out[1]).toBeInstanceOf(Error);
  });

  it('rejects NaN images from the diffusion pipeline and passes the diffusion settings', async () => {
    const options: Record<string, unknown>[] = [];
    const pipeline = {
      async generateImage(prompt: string, call: Record<string, unknown>) {
        options.push(call);
        return { ...image(5), quality: { ok: prompt !== 'nan', issues: prompt === 'nan' ? ['nan-pixels'] : [] } };
      },
    };
    const config = trainerConfigSchema.parse({ diffusion_settings: { steps: 2, height: 64, width: 64, guidance_scale: 3, negative_prompt: 'blurry' } });
    const out = await adaptRenderer(pipeline, config).render(['ok', 'nan'], { seeds: [5, 6] });
    expect(out[0]).toMatchObject({ width: 1, height: 1, channels: 3 });
    expect((out[1] as Error).message).toBe('image rejected (nan-pixels)');
    expect(options[0]).toEqual({ seed: 5, steps: 2, guidanceScale: 3, height: 64, width: 64, negativePrompt: 'blurry' });
  });
});
