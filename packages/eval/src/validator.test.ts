import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ResultWriter, deriveSeed, normalizePromptText } from '@vlm-grpo/data';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { EXAMPLE_RECORDS, EXAMPLE_REWRITES, EXAMPLE_SCORES } from './__fixtures__/example.js';
import { FAKE_SIZE, FakeEnhancer, FakeRenderer, FakeScorer, fakeImage, seedOfImage } from './__fixtures__/fakes.js';
import { contactSheetLayout } from './contact-sheet.js';
import { EvalError, TooManyFailuresError } from './errors.js';
import type { ValidationResult } from './validation-result.js';
import { validationResultSchema } from './validation-result.js';
import { Validator, fnv1a32, imageSeeds, type ValidatorOptions } from './validator.js';

const FIXED_NOW = () => new Date('2026-01-02T03:04:05.000Z');

function exampleValidator(overrides: Partial<ValidatorOptions> = {}) {
  const enhancer = new FakeEnhancer(EXAMPLE_REWRITES);
  const renderer = new FakeRenderer();
  const scorer = new FakeScorer(EXAMPLE_SCORES);
  const validator = new Validator({ enhancer, renderer, scorer, seed: 1234, successThreshold: 0.5, improvementMargin: 0.25, now: FIXED_NOW, ...overrides });
  return { validator, enhancer, renderer, scorer };
}

describe('imageSeeds / fnv1a32', () => {
  it('hashes UTF-8 with FNV-1a (reference values)', () => {
    // FNV-1a 32-bit reference values: "" → 0x811c9dc5, "a" → 0xe40c292c, "foobar" → 0xbf9cf968.
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('derives seeds from the validator seed and the normalised prompt text, one per image', () => {
    const seeds = imageSeeds(7, 'A  Cat ', 3);
    expect(seeds).toEqual([0, 1, 2].map((k) => deriveSeed(7, fnv1a32(normalizePromptText('a cat')), k)));
    expect(new Set(seeds).size).toBe(3);
    expect(imageSeeds(7, 'a cat', 1)).toEqual([seeds[0]]);
    expect(imageSeeds(8, 'a cat', 1)).not.toEqual([seeds[0]]);
  });
});

describe('Validator#validate with fakes', () => {
  it('reproduces the hand-computed example metrics end to end', async () => {
    const { validator } = exampleValidator();
    const { result } = await validator.validate(EXAMPLE_RECORDS, { iteration: 3 });
    expect(result.counts).toEqual({ prompts: 4, evaluated: 4, failed: 0, failed_by_stage: { enhance: 0, render: 0, score: 0 } });
    const m = result.metrics;
    expect([m.original.reward.mean, m.enhanced.reward.mean, m.mean_improvement, m.win_rate]).toEqual([0.40625, 0.53125, 0.125, 0.625]);
    expect([m.success_rate, m.original.success_rate, m.improvement_rate, m.fallback_rate]).toEqual([0.5, 0.25, 0.5, 0.25]);
    expect(m.rewrite_words).toMatchObject({ mean: 6.25, min: 2, max: 9, median: 7 });
    expect(m.by_category.map((row) => [row.key, row.win_rate])).toEqual([['animals', 0.75], ['architecture', 0.5]]);
    const dog = result.items[1]!;
    expect(dog).toMatchObject({ status: 'ok', enhanced_prompt: 'a dog', fallback: { used: true, reason: 'empty generation' }, outcome: 'tie', improvement: 0 });
    expect(result).toMatchObject({ format: 'vlm-grpo.validation', version: 1, iteration: 3, seed: 1234, created_at: '2026-01-02T03:04:05.000Z' });
    expect(() => validationResultSchema.parse(result)).not.toThrow();
  });

  it('renders the original and the enhanced prompt of each record from the same seed', async () => {
    const { validator, renderer, scorer } = exampleValidator({ imagesPerPrompt: 2, batchSize: 3 });
    const { result, pairs } = await validator.validate(EXAMPLE_RECORDS, { iteration: 0 });
    const seen = new Map<string, number[]>();
    for (const call of renderer.calls) {
      call.prompts.forEach((prompt, index) => seen.set(prompt, [...(seen.get(prompt) ?? []), call.seeds[index]!]));
    }
    for (const record of EXAMPLE_RECORDS) {
      const expected = imageSeeds(1234, record.user_prompt, 2);
      const rewrite = EXAMPLE_REWRITES[record.user_prompt]!;
      const text = typeof rewrite === 'string' ? rewrite : rewrite.text;
      if (text === record.user_prompt) {
        // The fallback rewrite equals the original: rendered twice with each seed (original + enhanced).
        expect(seen.get(text)).toEqual([expected[0], expected[0], expected[1], expected[1]]);
      } else {
        expect(seen.get(record.user_prompt)).toEqual(expected);
        expect(seen.get(text)).toEqual(expected);
      }
    }
    // Batching: 4 records in batches of 3 → two render calls of 3×2×2 and 1×2×2 images.
    expect(renderer.calls.map((call) => call.prompts.length)).toEqual([12, 4]);
    // The scorer saw the images of the right seeds and the original prompt as context.
    for (const pair of pairs) {
      expect(pair.originalImages.map(seedOfImage)).toEqual(pair.item.seeds);
      expect(pair.enhancedImages.map(seedOfImage)).toEqual(pair.item.seeds);
    }
    expect(scorer.calls[0]!.originalPrompts.slice(0, 4)).toEqual(['a cat', 'a cat', 'a cat', 'a cat']);
    expect(scorer.calls[0]!.enhancedPrompts.slice(0, 4)).toEqual(['a cat', 'a cat', 'a cat sitting on a red mat', 'a cat sitting on a red mat']);
    expect(result.items[0]!.seeds).toEqual(imageSeeds(1234, 'a cat', 2));
  });

  it('averages the rewards of several images per prompt', async () => {
    // Bonus per image: (seed mod 4) / 8, the same for original and enhanced (same seeds), so the
    // improvement is unchanged and each total is the base plus the mean bonus of the two seeds.
    const bonus = (seed: number) => (seed % 4) / 8;
    const { validator } = exampleValidator({ imagesPerPrompt: 2, scorer: new FakeScorer(EXAMPLE_SCORES, bonus) });
    const { result } = await validator.validate(EXAMPLE_RECORDS, { iteration: 0 });
    const cat = result.items[0]!;
    if (cat.status !== 'ok') throw new Error('expected ok');
    const seeds = imageSeeds(1234, 'a cat', 2);
    const meanBonus = (bonus(seeds[0]!) + bonus(seeds[1]!)) / 2;
    expect(cat.original.per_image).toEqual(seeds.map((seed) => 0.25 + bonus(seed)));
    expect(cat.original.total).toBe(0.25 + meanBonus);
    expect(cat.enhanced.total).toBe(0.75 + meanBonus);
    expect(cat.improvement).toBeCloseTo(0.5, 12);
    expect(result.metrics.win_rate).toBe(0.625);
  });

  it('passes a per-iteration seed and the enhance options to the enhancer', async () => {
    const { validator, enhancer } = exampleValidator({ enhanceOptions: { temperature: 0 } });
    await validator.validate(EXAMPLE_RECORDS, { iteration: 5 });
    expect(enhancer.calls[0]!.options).toEqual({ temperature: 0, seed: deriveSeed(1234, 5) });
  });

  it('records failures of single prompts and excludes them from the metrics', async () => {
    const records = [
      ...EXAMPLE_RECORDS,
      { user_prompt: 'a bird', category: 'animals', difficulty: 'easy' }, // render error (enhanced side)
      { user_prompt: 'a boat', category: 'vehicles', difficulty: 'easy' }, // NaN reward
      { user_prompt: 'a car', category: 'vehicles', difficulty: 'medium' }, // enhancer per-item error
      { user_prompt: 'a tree', category: 'plants', difficulty: 'hard' }, // empty rewrite
      { user_prompt: 'a road', category: 'vehicles', difficulty: 'hard' }, // malformed image
    ];
    const enhancer = new FakeEnhancer({ ...EXAMPLE_REWRITES, 'a car': new Error('tokenizer failure'), 'a tree': '   ' });
    const renderer = new FakeRenderer((prompt) =>
      prompt === 'a bird, detailed' ? { error: 'NaN latents' } : prompt === 'a road, detailed' ? { width: 8, height: 8, data: new Uint8Array(5) } : undefined,
    );
    const scorer = new FakeScorer({
      ...EXAMPLE_SCORES,
      'a bird': { total: 1, components: {} },
      'a boat': { total: 0.5, components: {} },
      'a boat, detailed': { total: Number.NaN, components: {} },
      'a road': { total: 0.5, components: {} },
    });
    const warnings: string[] = [];
    const validator = new Validator({ enhancer, renderer, scorer, seed: 1234, successThreshold: 0.5, improvementMargin: 0.25, logger: { warn: (message) => warnings.push(message) } });
    const { result } = await validator.validate(records, { iteration: 1 });
    expect(result.counts).toEqual({ prompts: 9, evaluated: 4, failed: 5, failed_by_stage: { enhance: 2, render: 2, score: 1 } });
    const failed = result.items.filter((item) => item.status === 'failed');
    expect(failed.map((item) => [item.user_prompt, item.stage, item.status === 'failed' ? item.side : undefined])).toEqual([
      ['a bird', 'render', 'enhanced'],
      ['a boat', 'score', 'enhanced'],
      ['a car', 'enhance', undefined],
      ['a tree', 'enhance', undefined],
      ['a road', 'render', 'enhanced'],
    ]);
    expect(failed[0]!.status === 'failed' && failed[0]!.error).toBe('NaN latents');
    expect(failed[1]!.status === 'failed' && failed[1]!.error).toBe('non-finite reward NaN');
    expect(failed[4]!.status === 'failed' && failed[4]!.error).toMatch(/data must be a Uint8Array of 8×8×3 = 192 bytes, received 5/u);
    // Metrics are exactly those of the 4 good prompts.
    expect([result.metrics.original.reward.mean, result.metrics.enhanced.reward.mean, result.metrics.win_rate]).toEqual([0.40625, 0.53125, 0.625]);
    expect(result.metrics.by_category.find((row) => row.key === 'vehicles')).toMatchObject({ count: 0, failed: 3, win_rate: null });
    expect(warnings.filter((line) => line.includes('failed at'))).toHaveLength(5);
    expect(() => validationResultSchema.parse(result)).not.toThrow();
  });

  it('fails every prompt of a call that throws, without stopping the validation', async () => {
    const enhancer = new FakeEnhancer(EXAMPLE_REWRITES, (prompts) => prompts.includes('a house'));
    const validator = new Validator({ enhancer, renderer: new FakeRenderer(), scorer: new FakeScorer(EXAMPLE_SCORES), batchSize: 2 });
    const { result } = await validator.validate(EXAMPLE_RECORDS, { iteration: 0 });
    expect(result.items.map((item) => item.status)).toEqual(['ok', 'ok', 'failed', 'failed']);
    expect(result.items[2]).toMatchObject({ stage: 'enhance', error: 'enhancer exploded', enhanced_prompt: null });
    const throwing = new Validator({ enhancer: new FakeEnhancer(EXAMPLE_REWRITES), renderer: new FakeRenderer(undefined, true), scorer: new FakeScorer(EXAMPLE_SCORES) });
    const all = await throwing.validate(EXAMPLE_RECORDS, { iteration: 0 });
    expect(all.result.counts.failed_by_stage.render).toBe(4);
    expect(all.result.metrics.win_rate).toBeNull();
  });

  it('throws EVAL_CONTRACT_VIOLATION when an implementation returns the wrong number of items', async () => {
    const renderer = { render: async () => [fakeImage('x', 1)] };
    const validator = new Validator({ enhancer: new FakeEnhancer(EXAMPLE_REWRITES), renderer, scorer: new FakeScorer(EXAMPLE_SCORES) });
    await expect(validator.validate(EXAMPLE_RECORDS, { iteration: 0 })).rejects.toMatchObject({ code: 'EVAL_CONTRACT_VIOLATION', message: expect.stringMatching(/returned 1 item\(s\) for 8 prompt/u) });
  });

  it('reuses cached original images and rewards at later iterations', async () => {
    const { validator, renderer, scorer } = exampleValidator();
    const first = await validator.validate(EXAMPLE_RECORDS, { iteration: 0 });
    const callsAfterFirst = renderer.calls.length;
    const second = await validator.validate(EXAMPLE_RECORDS, { iteration: 1 });
    const secondPrompts = renderer.calls.slice(callsAfterFirst).flatMap((call) => call.prompts);
    expect(secondPrompts).toEqual(['a cat sitting on a red mat', 'a dog', 'a large old house with a garden', 'a tall stone tower at dusk in golden light']);
    expect(scorer.calls.at(-1)!.images).toHaveLength(4);
    expect(second.result.metrics).toEqual(first.result.metrics);
    expect(second.pairs[0]!.originalImages[0]).toEqual(fakeImage('a cat', imageSeeds(1234, 'a cat', 1)[0]!));
    validator.clearCache();
    await validator.validate(EXAMPLE_RECORDS, { iteration: 2 });
    expect(renderer.calls.at(-1)!.prompts).toHaveLength(8);
  });

  it('rejects bad records, options and aborted runs with stable codes', async () => {
    const { validator } = exampleValidator();
    await expect(validator.validate([], { iteration: 0 })).rejects.toMatchObject({ code: 'EVAL_NO_RECORDS' });
    await expect(validator.validate([{ user_prompt: 'x', category: 'a', difficulty: 'extreme' }], { iteration: 0 })).rejects.toMatchObject({
      code: 'EVAL_INVALID_ARGUMENT',
      message: expect.stringContaining('record 0'),
    });
    await expect(validator.validate(EXAMPLE_RECORDS, { iteration: -1 })).rejects.toMatchObject({ code: 'EVAL_INVALID_ARGUMENT' });
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(validator.validate(EXAMPLE_RECORDS, { iteration: 0, signal: controller.signal })).rejects.toMatchObject({ code: 'EVAL_ABORTED' });
    expect(() => new Validator({ ...exampleValidator(), enhancer: {} as never } as ValidatorOptions)).toThrow(EvalError);
    expect(() => exampleValidator({ imagesPerPrompt: 0 })).toThrow(/imagesPerPrompt/u);
    expect(() => exampleValidator({ seed: -1 })).toThrow(/seed/u);
  });
});

describe('Validator outputs through ResultWriter', () => {
  let directory: string;
  beforeEach(async () => {
    directory = await mkdtemp(join(tmpdir(), 'vlm-grpo-eval-'));
  });
  afterEach(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('writes a schema-valid JSON, a contact sheet PNG of the expected size, images and report.html', async () => {
    const writer = await ResultWriter.open(directory, { runId: 'test' });
    await writer.appendJsonl('metrics.jsonl', { iteration: 1, reward_mean: 0.1, kl: 0.01 });
    await writer.appendJsonl('metrics.jsonl', { iteration: 2, reward_mean: 0.2, kl: 0.02 });
    const { validator } = exampleValidator({ saveImages: true, contactSheet: { tileSize: 64, maxRows: 3 } });
    await validator.validate(EXAMPLE_RECORDS, { iteration: 2, writer });
    const run = await validator.validate(EXAMPLE_RECORDS, { iteration: 4, writer });
    expect(run.outputWarnings).toEqual([]);

    const json: unknown = JSON.parse(await readFile(join(directory, 'validation_iter_4.json'), 'utf8'));
    const parsed = validationResultSchema.parse(json);
    expect(parsed.version).toBe(1);
    expect(parsed.files).toMatchObject({ result: 'validation_iter_4.json', contact_sheet: 'contact_sheet_iter_4.png' });
    expect(parsed.files.images).toHaveLength(4);
    expect(parsed).toEqual(run.result);

    const sharp = (await import('sharp')).default;
    const sheet = await sharp(join(directory, 'contact_sheet_iter_4.png')).metadata();
    const layout = contactSheetLayout(3, { tileSize: 64 });
    expect([sheet.format, sheet.width, sheet.height]).toEqual(['png', layout.width, layout.height]);
    const image = await sharp(join(directory, 'validation_iter_4/000_original.png')).raw().toBuffer({ resolveWithObject: true });
    expect([image.info.width, image.info.height, image.info.channels]).toEqual([FAKE_SIZE, FAKE_SIZE, 3]);
    expect(seedOfImage({ width: FAKE_SIZE, height: FAKE_SIZE, data: new Uint8Array(image.data) })).toBe(imageSeeds(1234, 'a cat', 1)[0]);

    const html = await readFile(join(directory, 'report.html'), 'utf8');
    expect(html).toContain('data-chart="validation-reward"');
    expect((html.match(/<polyline /gu) ?? []).length).toBeGreaterThanOrEqual(2); // two iterations → lines
    expect(html).toContain('data-chart="training-kl"');
    expect(html).toContain('src="contact_sheet_iter_4.png"');
    expect(run.files.report).toBe(join(directory, 'report.html'));
    await writer.close();
  });

  it('writes the outputs, then throws TooManyFailuresError above maxFailureFraction', async () => {
    const writer = await ResultWriter.open(directory, { runId: 'test' });
    const renderer = new FakeRenderer((prompt) => (prompt.startsWith('a cat') || prompt.startsWith('a dog') ? new Error('render failed') : undefined));
    const validator = new Validator({ enhancer: new FakeEnhancer(EXAMPLE_REWRITES), renderer, scorer: new FakeScorer(EXAMPLE_SCORES), maxFailureFraction: 0.25 });
    const error = await validator.validate(EXAMPLE_RECORDS, { iteration: 0, writer }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(TooManyFailuresError);
    expect(error).toMatchObject({ code: 'EVAL_TOO_MANY_FAILURES', failed: 2, total: 4 });
    const written = validationResultSchema.parse(JSON.parse(await readFile(join(directory, 'validation_iter_0.json'), 'utf8'))) as ValidationResult;
    expect(written.counts.failed).toBe(2);
    await writer.close();
  });
});
