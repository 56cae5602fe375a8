import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { describe, expect, it } from 'vitest';
import { ClipTokenizer } from './clip-tokenizer.js';
import { SdError } from './errors.js';
import { tinySdGoldenDir, tinySdModelDir } from './__fixtures__/golden.js';

const tokDir = `${tinySdModelDir}tokenizer/`;
const reference = JSON.parse(
  readFileSync(`${tinySdGoldenDir}reference.json`, 'utf8'),
) as { prompt_input_ids: number[] };

/** The fixture's tokenizer.json with its vocabulary replaced by vocab.json + merges.txt: an oracle run by @huggingface/tokenizers. */
function oracle(): Tokenizer {
  const tj = JSON.parse(readFileSync(join(tokDir, 'tokenizer.json'), 'utf8')) as Record<string, Record<string, unknown>>;
  const vocab = JSON.parse(readFileSync(join(tokDir, 'vocab.json'), 'utf8')) as Record<string, number>;
  const merges = readFileSync(join(tokDir, 'merges.txt'), 'utf8').split('\n').slice(1).filter(Boolean);
  tj['model']!['vocab'] = vocab;
  tj['model']!['merges'] = merges;
  tj['added_tokens'] = [
    { id: 762, content: '<|startoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
    { id: 763, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true },
  ] as unknown as Record<string, unknown>;
  tj['post_processor'] = { ...tj['post_processor'], sep: ['<|endoftext|>', 763], cls: ['<|startoftext|>', 762] };
  return new Tokenizer(tj, { model_max_length: 77 });
}

describe('ClipTokenizer', () => {
  it('tokenizer.json path reproduces the reference prompt ids (padded to 77)', async () => {
    const tok = await ClipTokenizer.fromFolder(tokDir);
    expect(tok.encode('a photo of a cat')).toEqual(reference.prompt_input_ids);
  });

  it('vocab.json + merges.txt alone agree with @huggingface/tokenizers on varied prompts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-tok-'));
    for (const f of ['vocab.json', 'merges.txt', 'tokenizer_config.json']) copyFileSync(join(tokDir, f), join(dir, f));
    const tok = await ClipTokenizer.fromFolder(dir);
    const ora = oracle();
    const texts = [
      'a photo of a cat',
      'A  Watercolor painting of a Dragon, flying over the OCEAN at sunset!!',
      "it's a robot's portrait — ultra detailed, 8k, golden hour",
      'fluffy white dog sitting on a windowsill <|endoftext|> more',
      'Café naïve 東京 emoji 🐱 tabs\tand\nnewlines',
      '',
    ];
    for (const text of texts) {
      const mine = tok.encode(text, { pad: false });
      const theirs = ora.encode(text).ids;
      expect(mine, text).toEqual(theirs);
    }
    expect(tok.encode('a photo of a cat')).toEqual([762, 320, 689, 700, 320, 520, 339, 763, ...new Array<number>(69).fill(763)]);
  });

  it('truncates long prompts to 77 keeping EOS, and honours maxLength', async () => {
    const tok = await ClipTokenizer.fromFolder(tokDir.replace(/tokenizer\/$/, 'tokenizer/'));
    const long = tok.encode('cat '.repeat(200));
    expect(long.length).toBe(77);
    expect(long[76]).toBe(2);
    expect(tok.encode('x', { maxLength: 5 })).toHaveLength(5);
  });

  it('names the missing files', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sd-tok-empty-'));
    writeFileSync(join(dir, 'vocab.json'), '{}');
    await expect(ClipTokenizer.fromFolder(dir)).rejects.toSatisfy(
      (e: unknown) => SdError.isInstance(e) && e.code === 'SD_MODEL_FILE_NOT_FOUND' && /merges\.txt/.test(e.message),
    );
  });
});
