/**
 * Post-processing of a generated prompt, in this order: cut at the first end-of-turn marker and
 * drop other chat artefacts (`<|im_end|>`, `<|endoftext|>`, `</s>`, `[INST]`, …); keep the first
 * non-empty line; drop role and preamble labels (`Assistant:`, `Enhanced prompt:`,
 * `Sure, here is …:`); strip markdown emphasis and surrounding quotes; normalise whitespace and
 * punctuation spacing; collapse repeated words/phrases (immediately repeated 1–4-word groups, and
 * comma-separated phrases contained in an earlier one); cut to CLIP's 77-token window at a phrase boundary.
 *
 * CLIP token counts are APPROXIMATE (no CLIP vocabulary is loaded): the text is lower-cased and
 * split like CLIP's pre-tokenizer (letter runs, single digits, punctuation runs); a letter run of
 * up to 9 letters counts 1 token, a longer one ⌈length/7⌉; each digit and each punctuation
 * character counts 1. This over-counts rare long words rather than under-counting, so a cut text
 * fits CLIP's window (77 including the start and end tokens, so 75 for the text).
 */

/** CLIP's context length, start and end tokens included. */
export const CLIP_MAX_TOKENS = 77;

const PRE_TOKEN = /'s|'t|'re|'ve|'m|'ll|'d|\p{L}+|\p{N}|[^\s\p{L}\p{N}]+/gu;

/** Approximate number of CLIP BPE tokens of `text`, without the start/end tokens (see file header). */
export function approximateClipTokenCount(text: string): number {
  let count = 0;
  for (const piece of text.toLowerCase().match(PRE_TOKEN) ?? []) {
    if (/^\p{L}+$/u.test(piece)) count += piece.length <= 9 ? 1 : Math.ceil(piece.length / 7);
    else if (/^\p{N}$/u.test(piece) || piece.startsWith("'")) count += 1;
    else count += piece.length;
  }
  return count;
}

/**
 * Cut `text` so that it fits `maxTokens` CLIP tokens (start and end included): whole phrases
 * (split after `,` `;` `.` `!` `?` `:`) are kept while they fit; when even the first phrase is too
 * long, whole words are kept. Trailing separators are removed.
 */
export function truncateToClipTokens(text: string, maxTokens = CLIP_MAX_TOKENS): string {
  const budget = maxTokens - 2;
  if (approximateClipTokenCount(text) <= budget) return text;
  const phrases = text.match(/[^,;.!?:]+[,;.!?:]*/gu) ?? [text];
  let kept = '';
  for (const phrase of phrases) {
    if (approximateClipTokenCount(kept + phrase) > budget) break;
    kept += phrase;
  }
  if (kept.trim().length === 0) {
    const words = text.split(/\s+/u);
    kept = '';
    for (const word of words) {
      const next = kept ? `${kept} ${word}` : word;
      if (approximateClipTokenCount(next) > budget) break;
      kept = next;
    }
  }
  return kept.replace(/[\s,;:]+$/u, '').trim();
}

const END_MARKERS = /<\|im_end\|>|<\|endoftext\|>|<\|eot_id\|>|<\|end\|>|<\/s>|<end_of_turn>|<\|end_of_text\|>|<eos>/u;
const OTHER_ARTEFACTS = /<\|[^|>\s]{1,40}\|>|<s>|<\/?(?:bos|pad|unk)>|\[\/?INST\]|<<\/?SYS>>|<start_of_turn>(?:model|user)?/gu;
const LABELS = [
  /^(?:assistant|user|system|model|ai|bot)\s*[:：]\s*/iu,
  /^(?:sure|certainly|okay|ok|of course)[,!.]?\s*(?:here(?:'s| is)[^:]*:)?\s*/iu,
  /^here(?:'s| is)[^:]{0,60}:\s*/iu,
  /^(?:(?:the\s+)?(?:enhanced|improved|rewritten|detailed|new|final|rich|expanded|better)\s+)?prompt\s*[:：-]\s*/iu,
  /^(?:rephrase|rewrite|output|answer|result|description)\s*[:：]\s*/iu,
];
const QUOTES = /^["'“”‘’`«»]+|["'“”‘’`«»]+$/gu;

function collapseRepeatedWords(phrase: string): string {
  let words = phrase.split(' ').filter(Boolean);
  for (let n = 4; n >= 1; n -= 1) {
    const key = (at: number) => words.slice(at, at + n).join(' ').toLowerCase();
    const out: string[] = [];
    let i = 0;
    while (i < words.length) {
      if (i + 2 * n <= words.length && key(i) === key(i + n)) {
        let j = i + 2 * n;
        while (j + n <= words.length && key(j) === key(i)) j += n;
        out.push(...words.slice(i, i + n));
        i = j;
      } else {
        out.push(words[i]!);
        i += 1;
      }
    }
    words = out;
  }
  return words.join(' ');
}

/**
 * Collapse repeated phrases: immediately repeated 1–4-word groups, then comma-separated phrases
 * already contained (as whole words, case-insensitively) in an earlier phrase.
 */
export function collapseRepetitions(text: string): string {
  const seen = new Set<string>();
  const phrases: string[] = [];
  for (const raw of text.split(',')) {
    const phrase = collapseRepeatedWords(raw.trim());
    const key = phrase.toLowerCase().replace(/[^\p{L}\p{N} ]/gu, '').trim();
    if (!key || [...seen].some((previous) => ` ${previous} `.includes(` ${key} `))) continue;
    seen.add(key);
    phrases.push(phrase);
  }
  return phrases.join(', ');
}

/** Options of {@link postProcessPrompt}. */
export interface PostProcessOptions {
  /** CLIP token budget, start/end included (default: 77). */
  maxClipTokens?: number;
  /** Extra strings at which the text is cut (default: none). */
  stopStrings?: string[];
}

/** Clean a generated prompt (see the file header for the steps). */
export function postProcessPrompt(text: string, options: PostProcessOptions = {}): string {
  let out = text;
  const end = END_MARKERS.exec(out);
  if (end) out = out.slice(0, end.index);
  for (const stop of options.stopStrings ?? []) {
    const at = stop && stop !== '\n' ? out.indexOf(stop) : -1;
    if (at >= 0) out = out.slice(0, at);
  }
  out = out.replace(OTHER_ARTEFACTS, ' ');
  const lines = out
    .split(/\r?\n/u)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !/^(?:assistant|user|system|model)\s*:?$/iu.test(line));
  out = lines[0] ?? '';
  for (let pass = 0; pass < 3; pass += 1) {
    for (const label of LABELS) out = out.replace(label, '');
    out = out.replace(/\*\*|__|`/gu, '').replace(QUOTES, '').trim();
  }
  out = out
    .replace(/\s+/gu, ' ')
    .replace(/\s+([,;.!?:])/gu, '$1')
    .replace(/([,;])(?=\S)/gu, '$1 ')
    .replace(/([,;]\s*){2,}/gu, ', ')
    .trim();
  out = collapseRepetitions(out);
  out = out.replace(/^[\s,;:.-]+|[\s,;:-]+$/gu, '');
  return truncateToClipTokens(out, options.maxClipTokens ?? CLIP_MAX_TOKENS);
}
