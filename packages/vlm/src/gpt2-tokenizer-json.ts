/**
 * A `tokenizer.json` for folders that ship only GPT-2's slow-tokenizer files (`vocab.json` +
 * `merges.txt`, e.g. microsoft/DialoGPT-medium), built as transformers' `GPT2Converter`
 * (convert_slow_tokenizer.py) builds it: byte-level BPE with the vocabulary and merges as given,
 * `ByteLevel` pre-tokenizer (`add_prefix_space` from `tokenizer_config.json`, default false),
 * decoder and post-processor (trim_offsets false), no normaliser. Added tokens come from the
 * config's `added_tokens_decoder` (transformers ≥ 4.34), else `added_tokens.json`, plus the
 * special tokens the config names (`bos_token`, `eos_token`, `unk_token`, `pad_token`; GPT-2's
 * default `<|endoftext|>` for each when the config names none and the vocabulary has it).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VlmError } from './errors.js';
import { fileExists } from './hub.js';

interface AddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

const tokenString = (value: unknown): string | null =>
  typeof value === 'string' ? value : typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string' ? (value as { content: string }).content : null;

/**
 * The tokenizer.json object for `dir`'s `vocab.json` + `merges.txt`, or undefined when the folder
 * does not have both. Throws `VLM_TOKENIZER_FAILED` naming the file for unreadable ones.
 */
export async function gpt2TokenizerJson(dir: string, config: Record<string, unknown>): Promise<Record<string, unknown> | undefined> {
  const vocabPath = join(dir, 'vocab.json');
  const mergesPath = join(dir, 'merges.txt');
  if (!(await fileExists(vocabPath)) || !(await fileExists(mergesPath))) return undefined;
  let vocab: Record<string, number>;
  try {
    vocab = JSON.parse(await readFile(vocabPath, 'utf8')) as Record<string, number>;
    if (typeof vocab !== 'object' || vocab === null || Object.values(vocab).some((id) => !Number.isInteger(id))) throw new Error('expected an object of token → integer id');
  } catch (error) {
    throw new VlmError('VLM_TOKENIZER_FAILED', `${vocabPath}: not a vocabulary (${(error as Error).message})`, { cause: error });
  }
  const merges: string[] = [];
  for (const [index, line] of (await readFile(mergesPath, 'utf8')).split(/\r?\n/u).entries()) {
    if (line === '' || (index === 0 && line.startsWith('#version'))) continue;
    if (line.split(' ').length !== 2) throw new VlmError('VLM_TOKENIZER_FAILED', `${mergesPath}:${index + 1}: expected two space-separated symbols, found ${JSON.stringify(line)}`);
    merges.push(line);
  }
  const added = new Map<number, AddedToken>();
  const add = (id: number, content: string, special: boolean, extra: Partial<AddedToken> = {}) =>
    added.set(id, { id, content, single_word: false, lstrip: false, rstrip: false, normalized: !special, special, ...extra });
  const decoder = config['added_tokens_decoder'];
  if (typeof decoder === 'object' && decoder !== null) {
    for (const [id, entry] of Object.entries(decoder as Record<string, Partial<AddedToken>>)) {
      if (typeof entry.content === 'string') add(Number(id), entry.content, entry.special ?? false, entry);
    }
  } else if (await fileExists(join(dir, 'added_tokens.json'))) {
    const extra = JSON.parse(await readFile(join(dir, 'added_tokens.json'), 'utf8')) as Record<string, number>;
    for (const [content, id] of Object.entries(extra)) add(id, content, false);
  }
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token']) {
    const content = key in config ? tokenString(config[key]) : '<|endoftext|>';
    if (content === null) continue;
    const id = vocab[content] ?? [...added.values()].find((token) => token.content === content)?.id;
    if (id !== undefined) add(id, content, true);
  }
  const addPrefixSpace = config['add_prefix_space'] === true;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...added.values()].sort((a, b) => a.id - b.id),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges },
  };
}
