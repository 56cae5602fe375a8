import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GenerateOutput } from './causal-lm.js';
import { VlmError } from './errors.js';
import type { TfjsPolicy } from './policy.js';
import { postProcessPrompt } from './post-process.js';
import { FIXTURES, maxAbsDiff, tfForward, tfSequenceLogProbs, tfVariables, useTestBackend } from './__fixtures__/test-utils.js';
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

describe('sample (TfjsPolicy contract)', () => {
  it('returns prompt-major rows, consistent log-probs and reproducible seeded samples', async () => {
    const policy: TfjsPolicy = chat;
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
    const { logProbs } = tfSequenceLogProbs(policy, out.promptIds, out.completionIds, { temperature: 0.9 });
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
    const original = tfVariables(chat);
    const cloned = tfVariables(copy);
    expect(cloned.map((v) => v.shape)).toEqual(original.map((v) => v.shape));
    cloned[0]!.assign(tf.zerosLike(cloned[0]!));
    expect(original[0]!.abs().sum().dataSync()[0]).toBeGreaterThan(0);
    copy.dispose();
    expect(() => tfVariables(copy)).toThrow(/disposed/u);
    expect(tfVariables(chat)).toHaveLength(original.length);
  });

  it('save → fromPretrained keeps the tokenizer, template and logits', async () => {
    const dir = join(scratch, 'saved-chat');
    await chat.save(dir);
    const reloaded = await VLMWrapper.fromPretrained(dir, { backend: null });
    expect(await reloaded.formatPrompt('a cat')).toBe(await chat.formatPrompt('a cat'));
    const a = tfForward(chat.model, [[3, 10, 20]]);
    const b = tfForward(reloaded.model, [[3, 10, 20]]);
    expect(maxAbsDiff(a.dataSync(), b.dataSync())).toBe(0);
    tf.dispose([a, b]);
    reloaded.dispose();
  });
});

describe('save after the source folders are gone', () => {
  it('writes the tokenizer files read at load, of the model folder and of a separate tokenizerPath, byte for byte', async () => {
    const modelCopy = join(scratch, 'vanishing-model');
    const tokenizerCopy = join(scratch, 'vanishing-tokenizer');
    await cp(join(FIXTURES, 'tiny-qwen2'), modelCopy, { recursive: true });
    await cp(join(FIXTURES, 'tiny-qwen2'), tokenizerCopy, { recursive: true });
    const ownTokenizer = await VLMWrapper.fromPretrained(modelCopy, { backend: null });
    const otherTokenizer = await VLMWrapper.fromPretrained(modelCopy, { backend: null, tokenizerPath: tokenizerCopy });
    const cloned = await otherTokenizer.clone();
    // what a cleaned hub cache does to a long run's source folders
    await rm(modelCopy, { recursive: true });
    await rm(tokenizerCopy, { recursive: true });
    for (const [name, wrapper] of [['own', ownTokenizer], ['other', otherTokenizer], ['clone', cloned]] as const) {
      const dir = join(scratch, `saved-after-rm-${name}`);
      await wrapper.save(dir);
      for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
        expect(await readFile(join(dir, file)), `${name}: ${file}`).toEqual(await readFile(join(FIXTURES, 'tiny-qwen2', file)));
      }
      const reloaded = await VLMWrapper.fromPretrained(dir, { backend: null });
      expect(await reloaded.formatPrompt('a cat')).toBe(await chat.formatPrompt('a cat'));
      reloaded.dispose();
      wrapper.dispose();
    }
  });
});

describe('completion prefix (completionPrefix)', () => {
  it('fills {prompt} with the prompt minus trailing commas, semicolons and space; off by default', () => {
    expect(plain.completionPrefix).toBeNull();
    expect(plain.formatCompletionPrefix('a cat')).toBe('');
    const wrapper = VLMWrapper.fromModel(plain.model.clone(), plain.tokenizer, { completionPrefix: ' {prompt},' });
    expect(wrapper.completionPrefix).toBe(' {prompt},');
    expect(wrapper.formatCompletionPrefix('a red cat, ')).toBe(' a red cat,');
    expect(wrapper.formatCompletionPrefix('a fox; winter')).toBe(' a fox; winter,');
    wrapper.dispose();
    expect(() => VLMWrapper.fromModel(plain.model, plain.tokenizer, { completionPrefix: 3 as unknown as string })).toThrow(/completionPrefix must be a string or null/u);
  });

  it('sample: prompt ids end with the prefix ids, completions and log-probs cover only generated tokens, texts start with the prompt', async () => {
    const wrapper = VLMWrapper.fromModel(plain.model.clone(), plain.tokenizer, { completionPrefix: ' {prompt},' });
    const options = { temperature: 0.8, maxNewTokens: 6, numReturnSequences: 2, seed: 3 };
    const out = await wrapper.sample(['a red cat', 'a boat'], options);
    const prefixIds = plain.tokenizer.encode(' a red cat,');
    expect(prefixIds.length).toBeGreaterThan(0);
    expect(out.promptIds[0]).toEqual([...(await plain.encodePrompt('a red cat')), ...prefixIds]);
    expect(out.promptIds[1]).toEqual(out.promptIds[0]);
    expect(out.promptIds[2]).toEqual([...(await plain.encodePrompt('a boat')), ...plain.tokenizer.encode(' a boat,')]);
    // The same rows as generating from the prefixed ids directly: the prefix is context only.
    const direct = await plain.model.generate([out.promptIds[0]!, out.promptIds[2]!], {
      ...options,
      doSample: true,
      eosTokenIds: plain.eosTokenIds,
      padTokenId: plain.tokenizer.padTokenId ?? undefined,
      stopStrings: ['\n'],
      decode: (ids) => plain.tokenizer.decode(ids, { skipSpecialTokens: true }),
    });
    expect(out.completionIds).toEqual(direct.completionIds);
    out.completionIds.forEach((ids, r) => {
      expect(ids.length).toBeLessThanOrEqual(6);
      expect(out.completionLogProbs[r]).toHaveLength(ids.length);
      const prefix = r < 2 ? ' a red cat,' : ' a boat,';
      expect(out.texts[r]).toBe(postProcessPrompt(prefix + plain.tokenizer.decode(ids, { skipSpecialTokens: true }), { stopStrings: ['\n'] }));
      expect(out.texts[r]!.startsWith(r < 2 ? 'a red cat' : 'a boat')).toBe(true);
    });
    const { logProbs } = tfSequenceLogProbs(wrapper, out.promptIds, out.completionIds, { temperature: 0.8 });
    const flat = logProbs.arraySync().flatMap((row, r) => row.slice(0, out.completionIds[r]!.length));
    expect(maxAbsDiff(flat, out.completionLogProbs.flat())).toBeLessThan(1e-4);
    logProbs.dispose();
    wrapper.dispose();
  });

  it('enhance: raw and text start with the prefix, the greedy continuation is the model’s, the subject is never dropped', async () => {
    const wrapper = VLMWrapper.fromModel(plain.model.clone(), plain.tokenizer, { completionPrefix: ' {prompt},' });
    const [result] = await wrapper.enhancePromptsDetailed(['a lighthouse on a cliff'], { maxNewTokens: 5, fallback: 'none', repetitionPenalty: 1 });
    const greedy = await plain.model.generate([[...(await plain.encodePrompt('a lighthouse on a cliff')), ...plain.tokenizer.encode(' a lighthouse on a cliff,')]], {
      maxNewTokens: 5,
      eosTokenIds: plain.eosTokenIds,
      stopStrings: ['\n'],
      decode: (ids) => plain.tokenizer.decode(ids, { skipSpecialTokens: true }),
    });
    expect(result!.raw).toBe(` a lighthouse on a cliff,${plain.tokenizer.decode(greedy.completionIds[0]!, { skipSpecialTokens: true })}`);
    expect(result!.text.startsWith('a lighthouse on a cliff')).toBe(true);
    expect(result!.failure?.reason).not.toBe('dropped-subject');
    wrapper.dispose();
  });

  it('defaults to generation_config.json `completion_prefix`; an explicit null turns it off; save, reload and clone keep it', async () => {
    const dir = join(scratch, 'prefixed-gpt2');
    await cp(join(FIXTURES, 'tiny-gpt2'), dir, { recursive: true });
    const configPath = join(dir, 'generation_config.json');
    const generation = JSON.parse(await readFile(configPath, 'utf8'));
    await writeFile(configPath, JSON.stringify({ ...generation, completion_prefix: ' {prompt},' }));
    const stored = await VLMWrapper.fromPretrained(dir, { backend: null });
    expect(stored.completionPrefix).toBe(' {prompt},');
    const off = await VLMWrapper.fromPretrained(dir, { backend: null, completionPrefix: null });
    expect(off.completionPrefix).toBeNull();
    off.dispose();
    const copy = await stored.clone();
    expect(copy.completionPrefix).toBe(' {prompt},');
    copy.dispose();
    await stored.save(join(scratch, 'prefixed-saved'));
    const reloaded = await VLMWrapper.fromPretrained(join(scratch, 'prefixed-saved'), { backend: null });
    expect(reloaded.completionPrefix).toBe(' {prompt},');
    reloaded.dispose();
    stored.dispose();
    await writeFile(configPath, JSON.stringify({ ...generation, completion_prefix: 7 }));
    const error = await VLMWrapper.fromPretrained(dir, { backend: null }).catch((e: unknown) => e);
    expect(VlmError.isInstance(error) && error.code).toBe('VLM_INVALID_ARGUMENT');
    expect((error as Error).message).toMatch(/completion_prefix must be a string or null/u);
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

describe('prompts longer than the context, emoji and empty prompts', () => {
  // Random letters tokenise to roughly one token per letter or two: far beyond tiny-gpt2's 64 positions.
  const long = Array.from({ length: 600 }, (_, i) => String.fromCharCode(97 + ((i * 7919) % 26))).join('');

  it('truncate to the context (counted and logged) and never break the other prompts of a batch', async () => {
    const logged: string[] = [];
    const wrapper = VLMWrapper.fromModel(plain.model.clone(), plain.tokenizer, { logger: (message) => logged.push(message) });
    const limit = wrapper.contextLength;
    expect(limit).toBe(64);
    const results = await wrapper.enhancePromptsDetailed(['a cat', long, '🐱🐶🌃', '', 'city skyline at night'], { maxNewTokens: 16, fallback: 'original' });
    expect(results).toHaveLength(5);
    // Tiny random weights write noise, which may fall back for quality; never for a generation error.
    for (const result of results) expect(result.failure?.reason).not.toBe('error');
    expect(wrapper.truncatedPrompts).toBe(1);
    expect(logged.filter((line) => line.includes('tokens are dropped'))).toHaveLength(1);
    expect(logged[0]).toMatch(/^\[vlm\] prompt 2 of the batch has \d+ tokens, more than the policy's context of 64 allows with 16 tokens kept for the completion/u);

    // GRPO sampling: the prompt ids fit the context with the completion.
    const sampled = await wrapper.sample([long, 'a cat'], { maxNewTokens: 16, numReturnSequences: 2, seed: 1 });
    expect(sampled.promptIds).toHaveLength(4);
    for (const [row, ids] of sampled.promptIds.entries()) expect(ids.length + sampled.completionIds[row]!.length).toBeLessThanOrEqual(limit);
    expect(sampled.promptIds[0]!.length).toBe(limit - 16);
    expect(wrapper.truncatedPrompts).toBe(2);
    wrapper.dispose();
  });

  it('a batch whose generation throws is retried prompt by prompt, so only the bad prompt falls back', async () => {
    const wrapper = VLMWrapper.fromModel(plain.model.clone(), plain.tokenizer);
    const generate = wrapper.model.generate.bind(wrapper.model);
    wrapper.model.generate = async (ids, options) => {
      if (ids.some((row) => row.length > 40)) throw new Error('memory access out of bounds');
      return generate(ids, options);
    };
    const results = await wrapper.enhancePromptsDetailed(['a cat', 'x '.repeat(30), 'a dog'], { maxNewTokens: 8, fallback: 'original' });
    expect(results.map((result) => result.failure?.reason === 'error')).toEqual([false, true, false]);
    expect(results[1]!.failure?.detail).toContain('memory access out of bounds');
    wrapper.dispose();
  });
});
