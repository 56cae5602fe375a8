/**
 * CLIP byte-level BPE tokenizer, loadable from `tokenizer.json` (Hugging Face tokenizers) or from
 * `vocab.json` + `merges.txt` alone (what real Stable Diffusion repositories ship).
 *
 * Algorithm (OpenAI CLIP `simple_tokenizer.py`, transformers `CLIPTokenizer`/`CLIPTokenizerFast`):
 * normalise (NFC, collapse whitespace, lowercase, trim); split with
 * `<|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+`;
 * map each piece's UTF-8 bytes through GPT-2's bytes→unicode table; BPE with `</w>` appended to
 * the last symbol, merging the lowest-ranked pair first; symbols missing from the vocabulary
 * become the unknown token. Output `[BOS] tokens [EOS]`, truncated to `maxLength` (keeping EOS)
 * and padded to it with the pad token (77 for Stable Diffusion).
 * Departure: transformers' slow tokenizer cleans text with ftfy when installed; the fast one (and
 * this port) does not.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelFileNotFoundError, SdError } from './errors.js';

const PATTERN = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/gu;

/** GPT-2's reversible byte → printable-unicode table. */
function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const table: string[] = new Array<string>(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i]!)));
  return table;
}

const BYTE_ENCODER = bytesToUnicode();
const UTF8 = new TextEncoder();

/** Options of {@link ClipTokenizer.encodeBatch}. */
export interface TokenizeOptions {
  /** Pad/truncate to this many ids (default: the tokenizer's `modelMaxLength`, 77 for SD). */
  maxLength?: number;
  /** Pad to `maxLength` (default: true, as `padding="max_length"`). */
  pad?: boolean;
}

/** Special-token settings of a CLIP tokenizer. */
export interface ClipTokenizerSpecials {
  /** Id of `<|startoftext|>`. */
  bosId: number;
  /** Id of `<|endoftext|>`. */
  eosId: number;
  /** Id used for padding (SD: `<|endoftext|>`; SDXL's second tokenizer: `!` = 0). */
  padId: number;
  /** Id of the unknown token. */
  unkId: number;
  /** Maximum sequence length including BOS/EOS (default 77). */
  modelMaxLength: number;
}

/** A CLIP BPE tokenizer. */
export class ClipTokenizer {
  /** Special ids and the maximum length. */
  readonly specials: ClipTokenizerSpecials;
  private readonly vocab: Map<string, number>;
  private readonly ranks: Map<string, number>;
  private readonly specialTokens: Map<string, number>;
  private readonly cache = new Map<string, number[]>();

  constructor(
    vocab: Map<string, number>,
    merges: readonly (readonly [string, string])[],
    specials: ClipTokenizerSpecials,
    specialTokens: Map<string, number> = new Map(),
  ) {
    this.vocab = vocab;
    this.ranks = new Map(merges.map(([a, b], i) => [`${a} ${b}`, i]));
    this.specials = specials;
    this.specialTokens = specialTokens;
  }

  /**
   * Load from a tokenizer folder: `tokenizer.json` when present, else `vocab.json` + `merges.txt`;
   * `tokenizer_config.json` / `special_tokens_map.json` give the pad token and maximum length.
   */
  static async fromFolder(dir: string): Promise<ClipTokenizer> {
    const readJson = async (name: string): Promise<Record<string, unknown> | undefined> => {
      const p = join(dir, name);
      if (!existsSync(p)) return undefined;
      try {
        return JSON.parse(await readFile(p, 'utf8')) as Record<string, unknown>;
      } catch (cause) {
        throw new SdError('SD_INVALID_MODEL', `${p}: not valid JSON`, { cause });
      }
    };
    const config = { ...(await readJson('special_tokens_map.json')), ...(await readJson('tokenizer_config.json')) };
    const tokJson = await readJson('tokenizer.json');
    if (tokJson) return ClipTokenizer.fromTokenizerJson(tokJson, config, join(dir, 'tokenizer.json'));
    const vocabPath = join(dir, 'vocab.json');
    const mergesPath = join(dir, 'merges.txt');
    if (!existsSync(vocabPath) || !existsSync(mergesPath)) {
      throw new ModelFileNotFoundError(
        existsSync(vocabPath) ? mergesPath : vocabPath,
        `tokenizer in ${dir} (needs tokenizer.json, or vocab.json + merges.txt)`,
      );
    }
    const vocab = (await readJson('vocab.json')) as Record<string, number>;
    return ClipTokenizer.fromVocabMerges(vocab, await readFile(mergesPath, 'utf8'), config);
  }

  /** Build from `vocab.json` contents and `merges.txt` text (first line `#version` skipped). */
  static fromVocabMerges(
    vocab: Record<string, number>,
    mergesText: string,
    config: Record<string, unknown> = {},
  ): ClipTokenizer {
    const merges = mergesText
      .split('\n')
      .filter((line, i) => line.trim() !== '' && !(i === 0 && line.startsWith('#version')))
      .map((line) => line.split(' ') as [string, string]);
    const map = new Map(Object.entries(vocab));
    return new ClipTokenizer(map, merges, specialsFrom(map, new Map(), config, undefined), specialTokenMap(map));
  }

  /** Build from a parsed `tokenizer.json` (BPE model with `</w>` suffix, as CLIPTokenizerFast writes). */
  static fromTokenizerJson(json: Record<string, unknown>, config: Record<string, unknown> = {}, source = 'tokenizer.json'): ClipTokenizer {
    const model = json['model'] as { type?: string; vocab?: Record<string, number>; merges?: unknown[]; unk_token?: string } | undefined;
    if (!model || model.type !== 'BPE' || typeof model.vocab !== 'object') {
      throw new SdError('SD_INVALID_MODEL', `${source}: expected model.type "BPE" with a vocab (a CLIP tokenizer)`);
    }
    const vocab = new Map(Object.entries(model.vocab));
    const merges = (model.merges ?? []).map((m) => (typeof m === 'string' ? (m.split(' ') as [string, string]) : (m as [string, string])));
    const added = new Map<string, number>();
    for (const t of (json['added_tokens'] as { id: number; content: string }[] | undefined) ?? []) {
      added.set(t.content, t.id);
      if (!vocab.has(t.content)) vocab.set(t.content, t.id);
    }
    const post = json['post_processor'] as { cls?: [string, number]; sep?: [string, number] } | undefined;
    const padding = json['padding'] as { pad_id?: number } | null | undefined;
    const specials = specialsFrom(vocab, added, { unk_token: model.unk_token, ...config }, post);
    if (padding && typeof padding.pad_id === 'number' && config['pad_token'] === undefined) specials.padId = padding.pad_id;
    return new ClipTokenizer(vocab, merges, specials, new Map([...specialTokenMap(vocab), ...added]));
  }

  private bpe(piece: string): number[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    const chars = [...UTF8.encode(piece)].map((b) => BYTE_ENCODER[b]!);
    let word = [...chars.slice(0, -1), `${chars[chars.length - 1]}</w>`];
    while (word.length > 1) {
      let best = -1;
      let bestRank = Number.POSITIVE_INFINITY;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = word[best]!;
      const b = word[best + 1]!;
      const next: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i < word.length - 1 && word[i] === a && word[i + 1] === b) {
          next.push(a + b);
          i++;
        } else next.push(word[i]!);
      }
      word = next;
    }
    const ids = word.map((s) => this.vocab.get(s) ?? this.specials.unkId);
    if (this.cache.size < 10_000) this.cache.set(piece, ids);
    return ids;
  }

  /** Token ids of `text` without BOS/EOS or padding. */
  tokenize(text: string): number[] {
    const clean = text.normalize('NFC').replace(/\s+/gu, ' ').trim().toLowerCase();
    const ids: number[] = [];
    for (const match of clean.matchAll(PATTERN)) {
      const piece = match[0];
      const special = this.specialTokens.get(piece);
      if (special !== undefined) ids.push(special);
      else ids.push(...this.bpe(piece));
    }
    return ids;
  }

  /** `[BOS] tokens [EOS]`, truncated to `maxLength` and padded to it (`padding="max_length"`). */
  encode(text: string, options: TokenizeOptions = {}): number[] {
    const max = options.maxLength ?? this.specials.modelMaxLength;
    const body = this.tokenize(text).slice(0, Math.max(0, max - 2));
    const ids = [this.specials.bosId, ...body, this.specials.eosId];
    if (options.pad ?? true) while (ids.length < max) ids.push(this.specials.padId);
    return ids;
  }

  /** {@link encode} for several texts. */
  encodeBatch(texts: readonly string[], options: TokenizeOptions = {}): number[][] {
    return texts.map((t) => this.encode(t, options));
  }
}

function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as { content?: unknown }).content === 'string') {
    return (v as { content: string }).content;
  }
  return undefined;
}

function specialTokenMap(vocab: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of ['<|startoftext|>', '<|endoftext|>']) {
    const id = vocab.get(t);
    if (id !== undefined) out.set(t, id);
  }
  return out;
}

function specialsFrom(
  vocab: Map<string, number>,
  added: Map<string, number>,
  config: Record<string, unknown>,
  post: { cls?: [string, number]; sep?: [string, number] } | undefined,
): ClipTokenizerSpecials {
  const id = (token: string | undefined, what: string): number => {
    if (token === undefined) throw new SdError('SD_INVALID_MODEL', `tokenizer: no ${what} token configured`);
    const v = added.get(token) ?? vocab.get(token);
    if (v === undefined) throw new SdError('SD_INVALID_MODEL', `tokenizer: ${what} token "${token}" is not in the vocabulary`);
    return v;
  };
  const bosId = post?.cls?.[1] ?? id(tokenContent(config['bos_token']) ?? '<|startoftext|>', 'bos');
  const eosId = post?.sep?.[1] ?? id(tokenContent(config['eos_token']) ?? '<|endoftext|>', 'eos');
  const unkToken = tokenContent(config['unk_token']) ?? '<|endoftext|>';
  const unkId = added.get(unkToken) ?? vocab.get(unkToken) ?? eosId;
  const padToken = tokenContent(config['pad_token']);
  const padId = padToken === undefined ? eosId : id(padToken, 'pad');
  const rawMax = config['model_max_length'];
  const modelMaxLength = typeof rawMax === 'number' && rawMax > 0 && rawMax <= 4096 ? rawMax : 77;
  return { bosId, eosId, padId, unkId, modelMaxLength };
}
