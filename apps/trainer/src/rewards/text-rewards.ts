/**
 * Text rewards of the trainer. They judge the rewrite itself, so they carry meaning even when the
 * image models are random-weight test models.
 *
 * - `length_in_range`: w = number of words of the rewrite (whitespace-separated tokens with at
 *   least one letter or digit). 1 when minWords ≤ w ≤ maxWords; w / minWords below the range
 *   (0 for an empty rewrite); max(0, 1 − (w − maxWords) / maxWords) above it (0 at twice the
 *   maximum). Promptist-style rewrites are 15–60 words; the defaults (12–50) follow that.
 * - `subject_kept`: the fraction of the original prompt's content words (lower-cased, letters and
 *   digits only, English stop words removed) that appear in the rewrite, comparing singular
 *   forms (`cats` ≈ `cat`, `boxes` ≈ `box`, `puppies` ≈ `puppy`). 1 when the original has no
 *   content word. This is the "subject kept" check of RePrompt/PromptEnhancer-style rewards in its
 *   simplest lexical form: a rewrite that drifts off-topic loses it.
 */

/** English function words ignored by {@link contentWords}. */
export const STOP_WORDS: ReadonlySet<string> = new Set(
  'a an the of in on at to for with and or but from by into onto over under near as is are was were be been being this that these those it its their his her my your our some any very'.split(' '),
);

/** Words of `text`: whitespace-separated tokens that contain a letter or digit. */
export function words(text: string): string[] {
  return text.split(/\s+/u).filter((token) => /[\p{L}\p{N}]/u.test(token));
}

/** Singular form for matching: `puppies` → `puppy`, `boxes` → `box`, `cats` → `cat` (not `glass`). */
export function singular(word: string): string {
  if (word.length > 4 && word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.length > 4 && /(ches|shes|sses|xes|zes)$/u.test(word)) return word.slice(0, -2);
  if (word.length > 3 && word.endsWith('s') && !word.endsWith('ss') && !word.endsWith('us') && !word.endsWith('is')) return word.slice(0, -1);
  return word;
}

/** Content words of `text`: lower-cased letter/digit runs without stop words, singular. */
export function contentWords(text: string): string[] {
  const tokens = text.toLowerCase().normalize('NFKC').match(/[\p{L}\p{N}]+/gu) ?? [];
  return tokens.filter((token) => !STOP_WORDS.has(token)).map(singular);
}

/** The `length_in_range` reward of one rewrite (see the file header). */
export function lengthInRangeReward(rewrite: string, minWords: number, maxWords: number): number {
  const count = words(rewrite).length;
  if (count < minWords) return count / minWords;
  if (count <= maxWords) return 1;
  return Math.max(0, 1 - (count - maxWords) / maxWords);
}

/** The `subject_kept` reward of one rewrite of `original` (see the file header). */
export function subjectKeptReward(original: string, rewrite: string): number {
  const wanted = [...new Set(contentWords(original))];
  if (wanted.length === 0) return 1;
  const present = new Set(contentWords(rewrite));
  return wanted.filter((word) => present.has(word)).length / wanted.length;
}
