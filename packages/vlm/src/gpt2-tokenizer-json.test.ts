import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { VlmError } from './errors.js';
import { HfTokenizer } from './tokenizer.js';
import { FIXTURES } from './__fixtures__/test-utils.js';

// The tiny GPT-2 fixture's fast tokenizer (tokenizer.json) split back into the slow-tokenizer files
// a repository such as microsoft/DialoGPT-medium ships (vocab.json, merges.txt, added tokens in
// tokenizer_config.json): the converted tokenizer must encode and decode exactly as the original.
const source = join(FIXTURES, 'tiny-gpt2');
let slow: string;
beforeAll(async () => {
  slow = await mkdtemp(join(tmpdir(), 'vlm-slow-gpt2-'));
  const fast = JSON.parse(await readFile(join(source, 'tokenizer.json'), 'utf8')) as {
    model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
    added_tokens: { id: number; content: string; special: boolean }[];
  };
  const config = JSON.parse(await readFile(join(source, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  const decoder = Object.fromEntries(fast.added_tokens.map((token) => [String(token.id), { content: token.content, special: token.special, lstrip: false, rstrip: false, normalized: false, single_word: false }]));
  await writeFile(join(slow, 'vocab.json'), JSON.stringify(fast.model.vocab));
  await writeFile(join(slow, 'merges.txt'), `#version: 0.2\n${fast.model.merges.map((merge) => (Array.isArray(merge) ? merge.join(' ') : merge)).join('\n')}\n`);
  await writeFile(join(slow, 'tokenizer_config.json'), JSON.stringify({ ...config, added_tokens_decoder: decoder }));
});
afterAll(async () => {
  await rm(slow, { recursive: true, force: true });
});

describe('GPT-2 slow-tokenizer files (vocab.json + merges.txt)', () => {
  it('encode and decode exactly as the fast tokenizer.json', async () => {
    const reference = await HfTokenizer.fromDir(source);
    const converted = await HfTokenizer.fromDir(slow);
    for (const text of ['a cat', ' a fluffy orange cat on a windowsill, soft light', '<|im_start|>user\nhi<|im_end|>', 'Ünïcödé 🐱 ok', '']) {
      expect(converted.encode(text), text).toEqual(reference.encode(text));
      const ids = reference.encode(text);
      expect(converted.decode(ids, { skipSpecialTokens: false }), text).toBe(reference.decode(ids, { skipSpecialTokens: false }));
    }
    expect(converted.eosTokenId).toBe(reference.eosTokenId);
  });

  it('names what is missing', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'vlm-no-tokenizer-'));
    try {
      await writeFile(join(empty, 'tokenizer_config.json'), '{}');
      const error = await HfTokenizer.fromDir(empty).catch((e: unknown) => e);
      expect(VlmError.isInstance(error) && error.code).toBe('VLM_TOKENIZER_FAILED');
      expect((error as Error).message).toMatch(/tokenizer\.json: not found \(a tokenizer needs tokenizer\.json, or GPT-2's vocab\.json \+ merges\.txt\)/u);
      await writeFile(join(empty, 'vocab.json'), '{"a":0}');
      await writeFile(join(empty, 'merges.txt'), '#version: 0.2\na b c\n');
      expect(((await HfTokenizer.fromDir(empty).catch((e: unknown) => e)) as Error).message).toMatch(/merges\.txt:2: expected two space-separated symbols/u);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
