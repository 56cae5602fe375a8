import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { ClipTokenizer } from '@vlm-grpo/sd';
import { afterAll, describe, expect, it } from 'vitest';

import { bytesToUnicode, clipPreTokenize, trainClipBpe, writeClipTokenizer } from './train-bpe.mjs';

const folder = mkdtempSync(join(tmpdir(), 'vlm-grpo-clip-bpe-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

const corpus = [
  'a red circle', 'two red circles on the left', 'a big blue square, golden hour light', 'three small green stars at night, 8k',
  'a yellow heart on a pink background, soft focus, f/1.8', 'four purple flowers, highly detailed, rule of thirds', 'an orange moon, film grain',
];

/** Reference CLIP BPE encoding (OpenAI simple_tokenizer.py's bpe(), lowest-ranked merge first). */
function referenceEncode(text, { merges, vocab }) {
  const ranks = new Map(merges.map(([a, b], i) => [`${a} ${b}`, i]));
  const ids = [vocab.get('<|startoftext|>')];
  for (let word of clipPreTokenize(text, bytesToUnicode())) {
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < word.length; i++) {
        const rank = ranks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < bestRank) [best, bestRank] = [i, rank];
      }
      if (best < 0) break;
      word = [...word.slice(0, best), word[best] + word[best + 1], ...word.slice(best + 2)];
    }
    ids.push(...word.map((symbol) => vocab.get(symbol)));
  }
  ids.push(vocab.get('<|endoftext|>'));
  return ids;
}

describe('trainClipBpe (CLIP scheme)', () => {
  const trained = trainClipBpe(corpus, { vocabSize: 600, minFrequency: 2 });

  it('lays the vocabulary out as OpenAI CLIP: bytes, bytes + </w>, merges, then BOS and EOS last', () => {
    const table = bytesToUnicode();
    expect(trained.vocab.get(table[0])).toBe(0);
    expect(trained.vocab.get(`${table[0]}</w>`)).toBe(256);
    expect(trained.vocab.get('<|startoftext|>')).toBe(trained.vocab.size - 2);
    expect(trained.vocab.get('<|endoftext|>')).toBe(trained.vocab.size - 1);
    expect(trained.vocab.size).toBeLessThanOrEqual(600);
    // Frequent whole words become one token carrying the end-of-word suffix.
    expect(trained.vocab.has('red</w>')).toBe(true);
    expect(trained.vocab.has('circ')).toBe(true); // shared by circle and circles
  });

  it('pre-tokenises like CLIP: lower case, no spaces, digits one by one, </w> on the last symbol', () => {
    expect(clipPreTokenize('  Big  RED, f/18 ').map((s) => s.join(''))).toEqual(['big</w>', 'red</w>', ',</w>', 'f</w>', '/</w>', '1</w>', '8</w>']);
  });

  it('loads in transformers.js and in @vlm-grpo/sd ClipTokenizer with the reference ids', async () => {
    writeClipTokenizer(folder, trained);
    const texts = ['A red circle', 'two blue stars, golden hour light', 'a zebra!', 'Four   PURPLE flowers, f/1.8, 8k'];
    const sd = await ClipTokenizer.fromFolder(folder);
    const { AutoTokenizer, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    const hf = await AutoTokenizer.from_pretrained(folder, { local_files_only: true });
    for (const text of texts) {
      const expected = referenceEncode(text, trained);
      expect(hf.encode(text)).toEqual(expected);
      expect(sd.encode(text, { pad: false })).toEqual(expected);
    }
    // Padding to 77 with EOS, as Stable Diffusion's text encoder expects.
    const padded = sd.encode('a red circle');
    expect(padded).toHaveLength(77);
    expect(padded.at(-1)).toBe(trained.vocab.get('<|endoftext|>'));
    const config = JSON.parse(readFileSync(join(folder, 'tokenizer_config.json'), 'utf8'));
    expect(config).toMatchObject({ tokenizer_class: 'CLIPTokenizer', model_max_length: 77, pad_token: '<|endoftext|>' });
    expect(readFileSync(join(folder, 'merges.txt'), 'utf8').split('\n')[0]).toBe('#version: 0.2');
  });
});
