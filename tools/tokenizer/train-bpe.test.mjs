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

  it('gives exactly the merges of the naive recount-everything algorithm on random corpora', () => {
    // A seeded LCG builds corpora of short words over a small alphabet (many ties, overlapping
    // pairs such as "a a a", repeated words) so that tie-breaking and greedy left-to-right
    // merging are exercised.
    let state = 12345;
    const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let trial = 0; trial < 12; trial++) {
      const words = Array.from({ length: 40 + Math.floor(next() * 200) }, () =>
        Array.from({ length: 1 + Math.floor(next() * 7) }, () => 'aabcdé'[Math.floor(next() * 6)]).join(''),
      );
      const texts = [words.join(' '), words.slice(0, 30).reverse().join(' ')];
      const options = { vocabSize: 256 + 1 + Math.floor(next() * 120), minFrequency: 1 + Math.floor(next() * 2) };
      const fast = trainBpe(texts, options);
      const naive = naiveTrainBpe(texts, options);
      expect(fast.merges).toEqual(naive.merges);
      expect([...fast.vocab]).toEqual([...naive.vocab]);
    }
  });

  it('pre-tokenises like GPT-2', () => {
    expect(preTokenize("it's  a cat!").map((symbols) => symbols.join(''))).toEqual(['it', "'s", 'Ġ', 'Ġa', 'Ġcat', '!']);
  });
});

/** The textbook algorithm (recount every pair of every word per merge): the oracle for trainBpe. */
function naiveTrainBpe(texts, { vocabSize, minFrequency, specialTokens = ['<|endoftext|>'] }) {
  const byteTable = bytesToUnicode();
  const wordCounts = new Map();
  for (const text of texts) {
    for (const symbols of preTokenize(text, byteTable)) {
      const key = symbols.join('\u0000');
      wordCounts.set(key, (wordCounts.get(key) ?? 0) + 1);
    }
  }
  const words = [...wordCounts].map(([key, count]) => ({ symbols: key.split('\u0000'), count }));
  const vocab = new Map();
  for (const token of specialTokens) vocab.set(token, vocab.size);
  for (const symbol of [...byteTable].sort()) if (!vocab.has(symbol)) vocab.set(symbol, vocab.size);
  const merges = [];
  while (vocab.size < vocabSize) {
    const pairCounts = new Map();
    for (const { symbols, count } of words) {
      for (let index = 0; index + 1 < symbols.length; index++) {
        const pair = `${symbols[index]}\u0000${symbols[index + 1]}`;
        pairCounts.set(pair, (pairCounts.get(pair) ?? 0) + count);
      }
    }
    let best;
    let bestCount = 0;
    for (const [pair, count] of pairCounts) {
      if (count > bestCount || (count === bestCount && pair < best)) {
        best = pair;
        bestCount = count;
      }
    }
    if (best === undefined || bestCount < minFrequency) break;
    const [left, right] = best.split('\u0000');
    merges.push([left, right]);
    if (!vocab.has(left + right)) vocab.set(left + right, vocab.size);
    for (const word of words) {
      const next = [];
      for (let index = 0; index < word.symbols.length; index++) {
        if (index + 1 < word.symbols.length && word.symbols[index] === left && word.symbols[index + 1] === right) {
          next.push(left + right);
          index++;
        } else {
          next.push(word.symbols[index]);
        }
      }
      word.symbols = next;
    }
  }
  return { merges, vocab };
}

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
