/**
 * Quality bar of the default prompt enhancer (data/models/prompt-enhancer) on the validation
 * prompts, with greedy decoding through `VLMWrapper#enhancePromptsDetailed` (default settings:
 * greedy, repetition penalty 1.1, 77 new tokens, the model's own template, and the completion
 * prefix `" {prompt},"` that the folder's generation_config.json sets: the wrapper writes the user's
 * prompt and the model writes the rest, as every loader of the folder, the trainer included, does).
 *
 * Per rewrite (the model's own post-processed text, never the fallback's):
 * - subject kept: every content word (tools/data/text-utils `contentWords`: lower case, stopwords
 *   dropped, crude singular) of the prompt's first comma-separated phrase, where users name the
 *   subject, appears in the rewrite; `allWordsKept` reports the stricter rate over every word;
 * - ≥ 3 added phrases: comma-separated phrases of the rewrite that are not phrases of the prompt
 *   and do not contain the prompt's first phrase (a medium-first opening such as
 *   "an oil painting of a fox" is not counted as added);
 * - no repeated phrase, judged on the raw completion (before post-processing collapses repeats):
 *   its phrases are distinct and no word 3-gram occurs twice (unless it occurs twice in the prompt);
 * - fits CLIP: ≤ 75 tokens between CLIP's start and end tokens, by text-utils' `estimateClipTokens`,
 *   an upper bound of CLIP's BPE count (the CLIP vocabulary is not in the repository);
 * - fallback: VLMWrapper rejected the completion (`failure !== null`: empty, looping, subject dropped
 *   or generation error) and would have replaced it.
 */
import { readFileSync } from 'node:fs';

import { contentWords, estimateClipTokens, normalize, phrases, words } from '../data/text-utils.mjs';

/** CLIP's text window minus its start and end tokens. */
export const CLIP_TEXT_TOKENS = 75;

/** Records of a prompt JSONL file. */
export function readPrompts(path) {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line));
}

/** True when every content word of `prompt`'s first phrase (or of all of it: `allWords`) is in `rewrite`. */
export function keepsSubject(prompt, rewrite, { allWords = false } = {}) {
  const source = allWords ? prompt : (prompt.split(',')[0] ?? prompt);
  const present = new Set(contentWords(rewrite));
  return contentWords(source).every((word) => present.has(word));
}

/** Comma-separated phrases of `rewrite` that the prompt did not already have. */
export function addedPhrases(prompt, rewrite) {
  const own = new Set(phrases(prompt));
  const head = normalize(prompt.split(',')[0] ?? prompt);
  return phrases(rewrite).filter((phrase) => !own.has(phrase) && !(head && ` ${phrase} `.includes(` ${head} `)));
}

function trigramCounts(text) {
  const list = words(text);
  const counts = new Map();
  for (let i = 0; i + 3 <= list.length; i += 1) {
    const key = list.slice(i, i + 3).join(' ');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

/** The repeated phrase or word 3-gram of `text` (not already repeated in `prompt`), or null. */
export function repeatedPhrase(prompt, text) {
  const seen = new Set();
  for (const phrase of phrases(text)) {
    if (seen.has(phrase)) return phrase;
    seen.add(phrase);
  }
  const inPrompt = trigramCounts(prompt);
  for (const [gram, count] of trigramCounts(text)) if (count > 1 && count > (inPrompt.get(gram) ?? 0)) return gram;
  return null;
}

/** The first line of a raw completion, special tokens and surrounding space removed. */
export function rawFirstLine(raw) {
  return (raw.split(/<\|endoftext\|>/u)[0] ?? '').trim().split(/\r?\n/u)[0]?.trim() ?? '';
}

/** Assess one `EnhanceResult` (from `enhancePromptsDetailed(..., { fallback: 'none' })`). */
export function assessRewrite(result) {
  const { prompt, text } = result;
  const repeated = repeatedPhrase(prompt, rawFirstLine(result.raw));
  const added = addedPhrases(prompt, text);
  const clipTokens = estimateClipTokens(text);
  const checks = {
    subjectKept: keepsSubject(prompt, text),
    threePhrasesAdded: added.length >= 3,
    noRepeatedPhrase: repeated === null,
    fitsClip: clipTokens <= CLIP_TEXT_TOKENS,
  };
  return {
    prompt,
    text,
    checks,
    passes: Object.values(checks).every(Boolean),
    allWordsKept: keepsSubject(prompt, text, { allWords: true }),
    fallback: result.failure !== null,
    failure: result.failure?.reason ?? null,
    added: added.length,
    repeated,
    clipTokens,
  };
}

/** Rates over assessed rewrites (fractions in [0, 1]). */
export function summarize(assessed) {
  const n = assessed.length;
  const rate = (predicate) => assessed.filter(predicate).length / n;
  const failures = {};
  for (const item of assessed) if (item.failure) failures[item.failure] = (failures[item.failure] ?? 0) + 1;
  return {
    prompts: n,
    subjectKept: rate((item) => item.checks.subjectKept),
    allWordsKept: rate((item) => item.allWordsKept),
    threePhrasesAdded: rate((item) => item.checks.threePhrasesAdded),
    noRepeatedPhrase: rate((item) => item.checks.noRepeatedPhrase),
    fitsClip: rate((item) => item.checks.fitsClip),
    allFour: rate((item) => item.passes),
    fallback: rate((item) => item.fallback),
    failures,
    meanAddedPhrases: assessed.reduce((sum, item) => sum + item.added, 0) / n,
    meanWords: assessed.reduce((sum, item) => sum + words(item.text).length, 0) / n,
    maxClipTokens: Math.max(...assessed.map((item) => item.clipTokens)),
  };
}

/**
 * Enhance every record's prompt with `wrapper` (greedy, no fallback so the model's own text is
 * judged) and assess the results. Returns the per-prompt assessments and the summary.
 */
export async function evaluateEnhancer(wrapper, records, { batchSize = 48 } = {}) {
  const results = await wrapper.enhancePromptsDetailed(
    records.map((record) => record.user_prompt),
    { categories: records.map((record) => record.category), fallback: 'none', batchSize, temperature: 0 },
  );
  const assessed = results.map((result, index) => ({ ...assessRewrite(result), category: records[index].category, difficulty: records[index].difficulty }));
  return { assessed, summary: summarize(assessed) };
}
