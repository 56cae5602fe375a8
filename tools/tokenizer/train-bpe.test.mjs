import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { bytesToUnicode, preTokenize, tokenizerJson, trainBpe, writeTokenizer } from './train-bpe.mjs';

const folder = mkdtempSync(join(tmpdir(), 'vlm-grpo-bpe-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

// Sennrich et al.'s example corpus as one line: "low" once at the start, then " low" ×4,
// " lower" ×2, " newest" ×6, " widest" ×3 (Ġ marks the leading space of a pre-token).
const corpus = ['low low low low low lower lower newest newest newest newest newest newest widest widest widest'];

describe('bytesToUnicode', () => {
  it('is GPT-2’s table: printable bytes map to themselves, space to Ġ, 256 distinct symbols', () => {
    const table = bytesToUnicode();
    expect(table[65]).toBe('A');
    expect(table[32]).toBe('Ġ');
    expect(table[10]).toBe('Ċ');
    expect(new Set(table).size).toBe(256);
  });
});

describe('trainBpe', () => {
  it('learns the merges worked out by hand on the classic corpus', () => {
    // Pair counts before any merge: (e,s) 6+3 = 9 and (s,t) 9 tie → the smaller pair "e s" wins;
    // then (es,t) 9; then (l,o) 1+4+2 = 7 ties (o,w) 7 → "l o"; then (lo,w) 7.
    const { merges } = trainBpe(corpus, { vocabSize: 256 + 1 + 4, minFrequency: 2 });
    expect(merges).toEqual([['e', 's'], ['es', 't'], ['l', 'o'], ['lo', 'w']]);
  });

  it('puts special tokens first, then the 256 bytes, and stops below minFrequency', () => {
    const { vocab, merges } = trainBpe(corpus, { vocabSize: 10_000, minFrequency: 3, specialTokens: ['<|endoftext|>', '<|pad|>'] });
    expect(vocab.get('<|endoftext|>')).toBe(0);
    expect(vocab.get('<|pad|>')).toBe(1);
    expect(vocab.size).toBe(2 + 256 + merges.length);
    // " widest" occurs 3 times: merges of frequency 3 are allowed, nothing rarer.
    expect(vocab.has('Ġwidest')).toBe(true);
    expect(vocab.has('Ġlower')).toBe(false);
  });

  it('is deterministic: the same corpus gives identical tokenizer.json text', () => {
    const first = JSON.stringify(tokenizerJson(trainBpe(corpus), ['<|endoftext|>']));
    const second = JSON.stringify(tokenizerJson(trainBpe(corpus), ['<|endoftext|>']));
    expect(first).toBe(second);
  });

  it('pre-tokenises like GPT-2', () => {
    expect(preTokenize("it's  a cat!").map((symbols) => symbols.join(''))).toEqual(['it', "'s", 'Ġ', 'Ġa', 'Ġcat', '!']);
  });
});

describe('the written tokenizer', () => {
  it('loads in @huggingface/transformers and round-trips text, bytes and special tokens', async () => {
    const texts = [...corpus, 'a fluffy orange tabby cat on a windowsill, soft natural light, pet photography'];
    const out = join(folder, 'tok');
    writeTokenizer(out, trainBpe(texts, { vocabSize: 400, specialTokens: ['<|endoftext|>', '<|pad|>'] }), { specialTokens: ['<|endoftext|>', '<|pad|>'] });
    const config = JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'));
    expect(config.eos_token).toBe('<|endoftext|>');
    expect(config.pad_token).toBe('<|pad|>');
    const { AutoTokenizer, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    const tokenizer = await AutoTokenizer.from_pretrained(out, { local_files_only: true });
    const lowest = tokenizer.encode(' lowest');
    // " lowest" → Ġ + low + est: (Ġ,l) was never merged (6 < best counts until the vocab filled).
    expect(tokenizer.decode(lowest)).toBe(' lowest');
    for (const text of ['a fluffy cat, soft light', 'Café 東京 🐱', 'newest<|endoftext|>']) {
      expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
    }
    expect(tokenizer.encode('<|endoftext|>')).toEqual([0]);
    expect(tokenizer.eos_token_id).toBe(0);
    expect(tokenizer.pad_token_id).toBe(1);
  });
});
