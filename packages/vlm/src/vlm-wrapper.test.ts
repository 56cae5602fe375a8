import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateOutput } from './causal-lm.js';
import { VlmError } from './errors.js';
import type { GrpoPolicy } from './policy.js';
import { FIXTURES, maxAbsDiff, useTestBackend } from './__fixtures__/test-utils.js';
import { VLMWrapper } from './vlm-wrapper.js';

let plain: VLMWrapper;
let chat: VLMWrapper;
let scratch: string;
beforeAll(async () => {
  await useTestBackend();
  plain = await VLMWrapper.fromPretrained(join(FIXTURES, 'tiny-gpt2'), { backend: null });
  chat = await VLMWrapper.fromPretrained(join(FIXTURES, 'tiny-qwen2'), { backend: null });
  scratch = await mkdtemp(join(tmpdir(), 'vlm-wrap-'));
});
afterAll(async () => {
  plain.dispose();
  chat.dispose();
  await rm(scratch, { recursive: true, force: true });
});

describe('prompt formatting', () => {
  it('uses the plain template for base models and the chat template for chat models', async () => {
    expect(plain.promptFormat).toBe('plain');
    expect(await plain.formatPrompt('a cat')).toBe('a cat Rephrase:');
    expect(chat.promptFormat).toBe('chat');
    const text = await chat.formatPrompt('a cat');
    expect(text).toMatch(/^<\|im_start\|>system\nYou rewrite short text-to-image prompts.*<\|im_end\|>\n<\|im_start\|>user\na cat<\|im_end\|>\n<\|im_start\|>assistant\n$/su);
    const ids = await chat.encodePrompt('a cat');
    expect(ids[0]).toBe(3); // <|im_start|> is one special token
    expect(chat.tokenizer.decode(ids, { skipSpecialTokens: false })).toBe(text);
    expect(chat.eosTokenIds.sort()).toEqual([2, 4]);
  });

  it('accepts a configurable plain template and rejects one without {prompt}', async () => {
    const wrapper = VLMWrapper.fromModel(plain.model.clone(), plain.tokenizer, { plainTemplate: 'Short: {prompt}\nLong:' });
    expect(await wrapper.formatPrompt('a dog')).toBe('Short: a dog\nLong:');
    wrapper.dispose();
    expect(() => VLMWrapper.fromModel(plain.model, plain.tokenizer, { plainTemplate: 'no slot' })).toThrow(/must contain \{prompt\}/u);
    expect(() => VLMWrapper.fromModel(plain.model, plain.tokenizer, { promptFormat: 'chat' })).toThrow(/needs a tokenizer with a chat template/u);
  });
});

describe('sample (GrpoPolicy contract)', () => {
  it('returns prompt-major rows, consistent log-probs and reproducible seeded samples', async () => {
    const policy: GrpoPolicy = chat;
    const options = { numReturnSequences: 3, maxNewTokens: 6, temperature: 0.9, topP: 0.95, seed: 11 };
    const out = await policy.sample(['a cat', 'a red car at night'], options);
    expect(out.promptIds).toHaveLength(6);
    expect(out.promptIds[0]).toEqual(await chat.encodePrompt('a cat'));
    expect(out.promptIds[2]).toEqual(out.promptIds[0]);
    expect(out.promptIds[3]).toEqual(await chat.encodePrompt('a red car at night'));
    out.completionIds.forEach((ids, r) => {
      expect(out.completionLogProbs[r]).toHaveLength(ids.length);
      const eosAt = ids.findIndex((id) => chat.eosTokenIds.includes(id));
      if (eosAt >= 0) expect(eosAt).toBe(ids.length - 1);
      expect(out.truncated[r]).toBe(ids.length === 6 && eosAt < 0 && !chat.tokenizer.decode(ids).trim().includes('\n'));
      expect(typeof out.texts[r]).toBe('string');
      expect(out.texts[r]).not.toMatch(/\n/u);
    });
    const again = await policy.sample(['a cat', 'a red car at night'], options);
    expect(again.completionIds).toEqual(out.completionIds);
    const { logProbs } = policy.sequenceLogProbs(out.promptIds, out.completionIds, { temperature: 0.9 });
    const flat = logProbs.arraySync().flatMap((row, r) => row.slice(0, out.completionIds[r]!.length));
    expect(maxAbsDiff(flat, out.completionLogProbs.flat())).toBeLessThan(1e-4);
    logProbs.dispose();
  });

  it('temperature 0 is greedy and deterministic without a seed', async () => {
    const a = await plain.sample(['a cat'], { temperature: 0, maxNewTokens: 5, numReturnSequences: 2 });
    const b = await plain.sample(['a cat'], { temperature: 0, maxNewTokens: 5 });
    expect(a.completionIds[0]).toEqual(a.completionIds[1]);
    expect(a.completionIds[0]).toEqual(b.completionIds[0]);
  });

  it('clone has its own variables in the same order', async () => {
    const copy = await chat.clone();
    const original = chat.trainableVariables();
    const cloned = copy.trainableVariables();
    expect(cloned.map((v) => v.shape)).toEqual(original.map((v) => v.shape));
    cloned[0]!.assign(tf.zerosLike(cloned[0]!));
    expect(original[0]!.abs().sum().dataSync()[0]).toBeGreaterThan(0);
    copy.dispose();
    expect(() => copy.trainableVariables()).toThrow(/disposed/u);
    expect(chat.trainableVariables()).toHaveLength(original.length);
  });

  it('save → fromPretrained keeps the tokenizer, template and logits', async () => {
    const dir = join(scratch, 'saved-chat');
    await chat.save(dir);
    const reloaded = await VLMWrapper.fromPretrained(dir, { backend: null });
    expect(await reloaded.formatPrompt('a cat')).toBe(await chat.formatPrompt('a cat'));
    const a = chat.model.forward([[3, 10, 20]]);
    const b = reloaded.model.forward([[3, 10, 20]]);
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBe(0);
    tf.dispose([a, b]);
    reloaded.dispose();
  });
});

describe('enhancePrompt fallback', () => {
  function withGenerate(texts: string[] | Error): VLMWrapper {
    const wrapper = VLMWrapper.fromModel(plain.model.clone(), plain.tokenizer);
    wrapper.model.generate = async (inputIds): Promise<GenerateOutput> => {
      if (texts instanceof Error) throw texts;
      const completionIds = texts.map((text) => wrapper.tokenizer.encode(text));
      return {
        sequences: inputIds.map((ids, i) => [...ids, ...completionIds[i]!]),
        promptIds: inputIds,
        completionIds,
        completionLogProbs: completionIds.map((ids) => ids.map(() => -1)),
        finishReasons: texts.map(() => 'eos'),
      };
    };
    return wrapper;
  }

  it('accepts good output and reports each failure with the fallback used', async () => {
    const wrapper = withGenerate([
      ' "a fluffy cat on a windowsill, golden hour"',
      '',
      'the the the the the the',
      'a mountain landscape at sunrise',
    ]);
    const results = await wrapper.enhancePromptsDetailed(['a cat', 'a dog', 'an owl', 'a red car'], { categories: [undefined, 'animals'] });
    expect(results.map((r) => [r.source, r.failure?.reason ?? null]), JSON.stringify(results[0])).toEqual([
      ['model', null],
      ['rules', 'empty'],
      ['rules', 'loop'],
      ['rules', 'dropped-subject'],
    ]);
    expect(results[0]!.text).toBe('a fluffy cat on a windowsill, golden hour');
    expect(results[1]!.text.startsWith('a dog, ')).toBe(true);
    expect(results[3]!.text).toMatch(/^a red car, /u);
    const original = await wrapper.enhancePrompts(['a dog'], { fallback: 'original' });
    expect(original).toEqual(['a dog']);
    wrapper.dispose();
  });

  it('falls back when generation throws', async () => {
    const lines: string[] = [];
    const wrapper = withGenerate(new Error('backend exploded'));
    (wrapper as unknown as { settings: { logger: (m: string) => void } }).settings.logger = (m) => lines.push(m);
    const [result] = await wrapper.enhancePromptsDetailed(['a castle on a hill']);
    expect(result!.source).toBe('rules');
    expect(result!.failure).toEqual({ reason: 'error', detail: 'generation failed: backend exploded' });
    expect(await wrapper.enhancePrompt('a castle on a hill', { fallback: 'original' })).toBe('a castle on a hill');
    expect(lines[0]).toMatch(/fallback \(error\) → rules/u);
    wrapper.dispose();
  });

  it('runs the real model batched and always returns a usable prompt', async () => {
    const prompts = ['a cat', 'a red car at night', 'portrait of an old man'];
    const results = await chat.enhancePromptsDetailed(prompts, { batchSize: 2, maxNewTokens: 8 });
    expect(results.map((r) => r.prompt)).toEqual(prompts);
    for (const result of results) {
      expect(result.text.length).toBeGreaterThan(0);
      if (result.source === 'model') expect(result.failure).toBeNull();
      else expect(result.text.startsWith(result.prompt)).toBe(true);
    }
    expect(await chat.enhancePrompts(prompts, { maxNewTokens: 8 })).toEqual(results.map((r) => r.text));
  });

  it('rejects a bad batch size', async () => {
    const error = await chat.enhancePrompts(['a'], { batchSize: 0 }).catch((e: unknown) => e);
    expect(VlmError.isInstance(error) && error.code).toBe('VLM_INVALID_ARGUMENT');
  });
});
