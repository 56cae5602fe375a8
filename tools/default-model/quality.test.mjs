// The shipped default prompt enhancer (data/models/prompt-enhancer), loaded through
// @vlm-grpo/vlm's VLMWrapper exactly as the trainer loads it, must meet the quality bar on every
// validation prompt with greedy decoding (see ./quality.mjs for the checks).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { VLMWrapper } from '@vlm-grpo/vlm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { addedPhrases, assessRewrite, evaluateEnhancer, keepsSubject, readPrompts, repeatedPhrase } from './quality.mjs';
import { GENERATION_CONFIG, MODEL_CONFIG, PLAIN_TEMPLATE, TRAINING, readSftPairs } from './train-default-model.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const modelDir = join(root, 'data', 'models', 'prompt-enhancer');

describe('quality checks', () => {
  it('subject: every content word of the first phrase, plurals folded', () => {
    expect(keepsSubject('a red fox in the snow, winter forest', 'red foxes in the snow, soft light')).toBe(true);
    expect(keepsSubject('a red fox in the snow, winter forest', 'a fox in the snow, soft light')).toBe(false);
    expect(keepsSubject('a red fox, winter forest', 'a red fox, soft light', { allWords: true })).toBe(false);
  });

  it('added phrases exclude the prompt’s own phrases and a medium-first opening', () => {
    expect(addedPhrases('a fox, winter forest', 'an oil painting of a fox, winter forest, soft light, muted palette')).toEqual(['soft light', 'muted palette']);
  });

  it('repeats: a phrase twice or a word 3-gram twice, unless the prompt has it twice', () => {
    expect(repeatedPhrase('a fox', 'a fox, soft light, soft light')).toBe('soft light');
    expect(repeatedPhrase('a fox', 'a fox in soft warm light, glow of soft warm light')).toBe('soft warm light');
    expect(repeatedPhrase('a fox', 'a fox, soft light, warm glow')).toBeNull();
  });

  it('a rewrite passes only with all four checks', () => {
    const ok = assessRewrite({ prompt: 'a fox', text: 'a fox, soft light, muted palette, sharp focus', raw: ' a fox, soft light, muted palette, sharp focus', failure: null });
    expect(ok.passes).toBe(true);
    const short = assessRewrite({ prompt: 'a fox', text: 'a fox, soft light', raw: ' a fox, soft light', failure: null });
    expect(short.checks.threePhrasesAdded).toBe(false);
    expect(short.passes).toBe(false);
  });
});

describe('data/models/prompt-enhancer', () => {
  let wrapper;
  beforeAll(async () => {
    wrapper = await VLMWrapper.fromPretrained(modelDir, { backend: 'wasm', local_files_only: true });
  });
  afterAll(() => wrapper?.dispose());

  it('is the small Llama of the training script with the project tokenizer, under 40 MB in total', () => {
    const bytes = readdirSync(modelDir).reduce((sum, name) => sum + statSync(join(modelDir, name)).size, 0);
    expect(bytes).toBeLessThan(40 * 1024 * 1024);
    expect(wrapper.model.config.architecture).toBe('llama');
    expect(wrapper.model.config.hiddenSize).toBe(MODEL_CONFIG.hidden_size);
    expect(wrapper.model.config.numLayers).toBe(MODEL_CONFIG.num_hidden_layers);
    expect(wrapper.model.numParameters()).toBeGreaterThan(1_000_000);
    expect(wrapper.model.numParameters()).toBeLessThan(10_000_000);
    expect(wrapper.tokenizer.eosTokenId).toBe(0);
    expect(wrapper.tokenizer.padTokenId).toBe(1);
    expect(wrapper.eosTokenIds).toEqual([0]);
    expect(wrapper.tokenizer.decode(wrapper.tokenizer.encode('a lighthouse on a cliff, golden hour'))).toBe('a lighthouse on a cliff, golden hour');
    const training = JSON.parse(readFileSync(join(modelDir, 'training.json'), 'utf8'));
    expect(training).toMatchObject({ seed: TRAINING.seed, steps: TRAINING.steps, batchSize: TRAINING.batchSize, parameters: wrapper.model.numParameters() });
    expect(Number.isFinite(training.finalLoss)).toBe(true);
  });

  it('formats prompts with its stored template: the chat template gives the plain template’s tokens', async () => {
    expect(wrapper.promptFormat).toBe('chat');
    const plain = await VLMWrapper.fromPretrained(modelDir, { backend: 'wasm', local_files_only: true, promptFormat: 'plain', plainTemplate: PLAIN_TEMPLATE });
    try {
      for (const prompt of ['a fox', 'a red fox jumping into deep snow, winter forest, motion frozen']) {
        expect(await wrapper.formatPrompt(prompt)).toBe(PLAIN_TEMPLATE.replace('{prompt}', prompt));
        expect(await wrapper.encodePrompt(prompt)).toEqual(await plain.encodePrompt(prompt));
      }
    } finally {
      plain.dispose();
    }
  });

  it('seeds completions with the user prompt (generation_config.json completion_prefix), in the tokens SFT used', () => {
    expect(wrapper.completionPrefix).toBe(GENERATION_CONFIG.completion_prefix);
    // SFT tokenized " " + reference whole; generation sees the prefix and the continuation apart.
    // Byte-level BPE must split both the same way, or the model would continue from unseen tokens.
    const pairs = readSftPairs(join(root, 'data', 'sft_pairs.jsonl'));
    let checked = 0;
    for (const { prompt, completion } of pairs) {
      const prefix = wrapper.formatCompletionPrefix(prompt);
      if (!completion.startsWith(prefix)) continue;
      const whole = wrapper.tokenizer.encode(completion);
      expect(whole, completion).toEqual([...wrapper.tokenizer.encode(prefix), ...wrapper.tokenizer.encode(completion.slice(prefix.length))]);
      checked += 1;
    }
    expect(checked).toBeGreaterThan(0.85 * pairs.length);
  });

  // Issue 8's full bar (about 12 s of generation on the 2-core CPU, so it runs in every test run).
  it('meets the quality bar on every validation prompt (greedy): ≥ 90 % pass all four checks, < 5 % fallback', async () => {
    const records = readPrompts(join(root, 'data', 'val_prompts.jsonl'));
    expect(records.length).toBe(144);
    const { summary } = await evaluateEnhancer(wrapper, records);
    expect(summary.subjectKept).toBeGreaterThanOrEqual(0.9);
    expect(summary.threePhrasesAdded).toBeGreaterThanOrEqual(0.9);
    expect(summary.noRepeatedPhrase).toBeGreaterThanOrEqual(0.9);
    expect(summary.fitsClip).toBeGreaterThanOrEqual(0.9);
    expect(summary.allFour).toBeGreaterThanOrEqual(0.9);
    expect(summary.fallback).toBeLessThan(0.05);
  }, 300_000);
});
