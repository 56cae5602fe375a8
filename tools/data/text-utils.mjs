// Text helpers shared by the prompt-data scripts (plain Node ESM, no dependencies).

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

/** Lower case, trimmed, inner whitespace collapsed: the key for "the same prompt". */
export function normalize(text) {
  return text.toLowerCase().replace(/\s+/g, ' ').trim();
}

/** Words that carry no subject: ignored when comparing prompts for near-duplicates. */
export const STOPWORDS = new Set(
  (
    'a an the of in on at with and to by for from its his her their is are as into onto over ' +
    'under up out it this that some very'
  ).split(' '),
);

/** Words of a text: lower case, split on anything that is not a letter, digit, ' or -. */
export function words(text) {
  return normalize(text)
    .split(/[^a-z0-9'-]+/)
    .map((w) => w.replace(/^['-]+|['-]+$/g, ''))
    .filter(Boolean);
}

/** Crude singular form: "clouds" → "cloud", "glasses" stays, "boxes" → "box". */
export function singular(word) {
  if (word.length > 4 && word.endsWith('ies')) return word.slice(0, -3) + 'y';
  if (word.length > 4 && /(ches|shes|xes|sses)$/.test(word)) return word.slice(0, -2);
  if (word.length > 3 && word.endsWith('s') && !/(ss|us|is)$/.test(word)) return word.slice(0, -1);
  return word;
}

/** Content words of a prompt (no stopwords, singular, possessive 's dropped), sorted. */
export function contentWords(text) {
  return words(text)
    .map((w) => w.replace(/'s$/, ''))
    .filter((w) => !STOPWORDS.has(w))
    .map(singular)
    .sort();
}

/**
 * Near-duplicate test between two user prompts: the same content words in any order (so
 * "cat on a sofa" ~ "a sofa with a cat" would need identical words; "a cat" ~ "cats" is caught),
 * or, for prompts of four or more content words, a Jaccard overlap of the word sets ≥ 0.75.
 */
export function nearDuplicate(a, b) {
  const wa = contentWords(a);
  const wb = contentWords(b);
  if (wa.join(' ') === wb.join(' ')) return true;
  const sa = new Set(wa);
  const sb = new Set(wb);
  if (sa.size < 4 || sb.size < 4) return false;
  let inter = 0;
  for (const w of sa) if (sb.has(w)) inter += 1;
  return inter / (sa.size + sb.size - inter) >= 0.75;
}

/** Index of prompts by their content-word key, for fast exact near-duplicate look-ups. */
export function contentKey(text) {
  return contentWords(text).join(' ');
}

/** mulberry32: a small seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of a copy of `items` with the given rng. */
export function shuffled(items, rng) {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i -= 1) {
    const j = Math.floor(rng() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Comma-separated phrases of a text, trimmed and lower case, empty pieces dropped. */
export function phrases(text) {
  return text
    .split(',')
    .map((p) => normalize(p))
    .filter(Boolean);
}

/** Number of whitespace-separated words. */
export function wordCount(text) {
  return text.trim().split(/\s+/).filter(Boolean).length;
}

/**
 * Upper-bound estimate of CLIP BPE tokens (without BOS/EOS) when the real vocabulary is not at
 * hand: CLIP's pre-tokenizer pieces (letter runs, single digits, punctuation runs), and each
 * letter run longer than 6 characters is counted as 1 + ceil((len − 6) / 4) tokens. Real CLIP
 * encodes common English words as one token, so this overestimates.
 */
export function estimateClipTokens(text) {
  const pieces = normalize(text).match(/'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/gu) ?? [];
  let n = 0;
  for (const p of pieces) n += /^\p{L}+$/u.test(p) && p.length > 6 ? 1 + Math.ceil((p.length - 6) / 4) : 1;
  return n;
}

/**
 * Exact CLIP tokenizer token count (without BOS/EOS) from OpenAI's merges file
 * (`bpe_simple_vocab_16e6.txt.gz`, shipped by the `open_clip_torch` and `clip` Python packages).
 * Same pre-tokenizer regex and byte-level BPE as `SimpleTokenizer`; text is lower-cased and
 * whitespace-collapsed (ftfy's fixes do nothing on the ASCII text used here).
 */
export function loadClipTokenCounter(mergesGzPath) {
  const lines = gunzipSync(readFileSync(mergesGzPath)).toString('utf8').split('\n');
  const merges = lines.slice(1, 49152 - 256 - 2 + 1);
  const ranks = new Map();
  merges.forEach((m, i) => ranks.set(m, i));
  // bytes_to_unicode(): printable bytes map to themselves, the rest to 256 + n.
  const byteChar = [];
  let extra = 0;
  for (let b = 0; b < 256; b += 1) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    byteChar[b] = printable ? String.fromCharCode(b) : String.fromCharCode(256 + extra++);
  }
  const cache = new Map();
  const bpeCount = (token) => {
    if (cache.has(token)) return cache.get(token);
    let parts = Array.from(Buffer.from(token, 'utf8'), (b) => byteChar[b]);
    parts[parts.length - 1] += '</w>';
    while (parts.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < parts.length - 1; i += 1) {
        const r = ranks.get(parts[i] + ' ' + parts[i + 1]);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const a = parts[best];
      const b = parts[best + 1];
      const merged = [];
      for (let i = 0; i < parts.length; i += 1) {
        if (i < parts.length - 1 && parts[i] === a && parts[i + 1] === b) {
          merged.push(a + b);
          i += 1;
        } else merged.push(parts[i]);
      }
      parts = merged;
    }
    cache.set(token, parts.length);
    return parts.length;
  };
  return (text) => {
    const pieces = normalize(text).match(/'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/gu) ?? [];
    return pieces.reduce((n, p) => n + bpeCount(p), 0);
  };
}
