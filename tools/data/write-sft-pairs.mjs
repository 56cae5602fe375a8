#!/usr/bin/env node
// Writes data/sft_pairs.jsonl: user prompt → rich rewrite pairs for supervised fine-tuning of
// the project's prompt-enhancer policy.
//
// User prompts: every training prompt plus the SFT-only prompts of write-prompts.mjs's split
// (same hand-written pools, never a validation prompt). Each gets REWRITES_PER_PROMPT different
// rewrites composed from the hand-written per-category phrase banks in phrase-banks.mjs with a
// seeded RNG (SFT_SEED):
//   1. mode: photograph or artwork (the category's odds, unless the prompt already names a
//      photo or art medium);
//   2. 3–7 phrase slots drawn from detail, setting (or background when the prompt names a place),
//      lighting, composition, medium, camera (photo mode), mood and quality; one of five slot
//      orders (three fixed, one medium-first, one shuffled);
//   3. a phrase per slot from the bank, skipping phrases whose condition does not fit the prompt
//      (subject class, mode, time of day: the first phrase that implies one fixes it for the
//      rest) and phrases sharing a content word with the prompt or with a
//      phrase already chosen (so no phrase or word is repeated);
//   4. sometimes (PREFIX_RATE) the medium becomes the opening ("an oil painting of <prompt>, …");
//   5. phrases are dropped from the end until the rewrite has ≤ 60 words and an estimated
//      ≤ 75 CLIP tokens, never below 3 added phrases.
// The user prompt is kept verbatim inside every rewrite.
//
//   node tools/data/write-sft-pairs.mjs
//   node tools/data/check-prompts.mjs

import { writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BANKS, SHARED } from './phrase-banks.mjs';
import { estimateClipTokens, mulberry32, shuffled, STOPWORDS, wordCount, words } from './text-utils.mjs';
import { splitPools, toJsonl } from './write-prompts.mjs';

/** Seed of the rewrite composer. */
const SFT_SEED = 77031;
/** Rewrites composed for every user prompt. */
const REWRITES_PER_PROMPT = 3;
/** Chance that the medium phrase opens the rewrite when one is chosen and allowed. */
const PREFIX_RATE = 0.3;
/** Hard limits on a rewrite. */
const MAX_WORDS = 60;
const MAX_CLIP_TOKENS_ESTIMATE = 75;

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const PHOTO_WORDS =
  /\b(photo|photos|photograph|photography|polaroid|film|35mm|shot|exposure|macro|drone|aerial|infrared|fisheye|tilt[- ]shift|bokeh|headshot|selfie|lens|\d+mm|documentary|photorealistic|depth of field|motion blur|black and white|monochrome|sepia|film grain)\b/;
const ART_WORDS =
  /\b(painting|painted|watercolor|ink|drawing|sketch|illustration|poster|art|surrealism|surreal|cubist|impasto|collage|origami|paper cut|stained glass|pixel|anime|cartoon|storybook|style|inspired|render)\b/;
const NIGHT = /\b(night|midnight|moon|moonlit|moonlight|starry|stars|neon|nighttime|fireworks|fireflies|northern lights|milky way|candlelight|candle|dark|lanterns?)\b/;
const GOLDEN = /\b(sunset|sunrise|dawn|dusk|golden hour|twilight|evening|blue hour)\b/;
const DAY = /\b(morning|noon|midday|afternoon|sunny|sunlit|daylight|summer|sun|sunbeams|breakfast)\b/;
const PLACE = /\b(in|on|at|under|over|by|near|inside|across|through|along|above|below|beside|behind|outside|from|against|among|between|around|into)\b/;

const SLOT_ORDERS = [
  ['detail', 'place', 'lighting', 'composition', 'style', 'camera', 'mood', 'quality', 'detail2'],
  ['style', 'place', 'detail', 'lighting', 'mood', 'composition', 'camera', 'quality', 'detail2'],
  ['place', 'lighting', 'detail', 'mood', 'style', 'composition', 'quality', 'camera', 'detail2'],
  ['style', 'lighting', 'composition', 'detail', 'place', 'mood', 'quality', 'camera', 'detail2'],
  null, // shuffled
];
const SLOT_ORDER_WEIGHTS = [0.25, 0.2, 0.15, 0.15, 0.25];
const SLOT_WEIGHTS = {
  detail: 0.8, place: 0.65, lighting: 0.9, composition: 0.6, style: 0.7, camera: 0.55,
  mood: 0.55, quality: 0.6, detail2: 0.25,
};
const PHRASE_COUNT_WEIGHTS = { 3: 0.15, 4: 0.25, 5: 0.27, 6: 0.2, 7: 0.13 };

function pickWeighted(rng, entries) {
  const total = entries.reduce((s, [, w]) => s + w, 0);
  let r = rng() * total;
  for (const [v, w] of entries) {
    r -= w;
    if (r < 0) return v;
  }
  return entries.at(-1)[0];
}

/** Crude stem for the "no shared word" rule: detailed/details → detail, glowing → glow. */
function stem(w) {
  let s = w.replace(/'s$/, '');
  if (s.length > 5 && s.endsWith('ing')) s = s.slice(0, -3);
  else if (s.length > 4 && s.endsWith('ed')) s = s.slice(0, -2);
  else if (s.length > 3 && s.endsWith('s') && !s.endsWith('ss')) s = s.slice(0, -1);
  return s;
}

function stems(text) {
  return words(text)
    .filter((w) => !STOPWORDS.has(w))
    .map(stem);
}

/** Time of day the prompt names: 'night' | 'golden' | 'day' | 'mixed' | null. */
function timeOfDay(prompt) {
  const hits = [NIGHT.test(prompt) && 'night', GOLDEN.test(prompt) && 'golden', DAY.test(prompt) && 'day'].filter(Boolean);
  if (hits.length === 0) return null;
  return hits.length === 1 ? hits[0] : 'mixed';
}

function entryOf(item) {
  return typeof item === 'string' ? { t: item } : item;
}

/** Bank entries that fit the prompt (conditions and time of day). */
function fitting(bank, prompt, tod, mode) {
  return (bank ?? []).map(entryOf).filter((e) => {
    if (e.mode && e.mode !== mode) return false;
    if (e.if && !e.if.test(prompt)) return false;
    if (e.not && e.not.test(prompt)) return false;
    if (e.tod && tod !== null && e.tod !== tod) return false;
    return true;
  });
}

/** Composes one rewrite of `rec.user_prompt` with `rng`. */
function composeRewrite(rec, rng) {
  const prompt = rec.user_prompt;
  const lower = prompt.toLowerCase();
  const bank = BANKS[rec.category];
  if (!bank) throw new Error(`no phrase bank for category "${rec.category}"`);
  let tod = timeOfDay(lower);
  const hasPhoto = PHOTO_WORDS.test(lower);
  const hasArt = ART_WORDS.test(lower);
  const mode = hasPhoto && !hasArt ? 'photo' : hasArt && !hasPhoto ? 'art' : hasPhoto ? 'photo' : rng() < bank.photo ? 'photo' : 'art';
  const hasMedium = hasPhoto || hasArt;
  const hasPlace = PLACE.test(lower);

  const slotBanks = {
    detail: bank.detail,
    detail2: bank.detail,
    place: hasPlace ? bank.background : bank.setting,
    lighting: bank.lighting,
    composition: bank.composition,
    style: hasMedium ? [] : mode === 'photo' ? bank.photoStyle : bank.artStyle,
    camera: mode === 'photo' ? [...bank.camera, ...SHARED.camera] : [],
    mood: bank.mood,
    quality: mode === 'photo' ? SHARED.photoQuality : SHARED.artQuality,
  };

  const target = Number(pickWeighted(rng, Object.entries(PHRASE_COUNT_WEIGHTS)));
  // Choose slots: weighted sampling without replacement among slots with a fitting phrase.
  const available = Object.keys(SLOT_WEIGHTS).filter((s) => fitting(slotBanks[s], lower, tod, mode).length > 0);
  const chosenSlots = [];
  const pool = available.map((s) => [s, SLOT_WEIGHTS[s]]);
  while (chosenSlots.length < Math.min(target + 1, available.length) && pool.length > 0) {
    const s = pickWeighted(rng, pool);
    chosenSlots.push(s);
    pool.splice(
      pool.findIndex(([x]) => x === s),
      1,
    );
  }
  // Order the slots.
  const orderIdx = pickWeighted(
    rng,
    SLOT_ORDER_WEIGHTS.map((w, i) => [i, w]),
  );
  const order = SLOT_ORDERS[orderIdx];
  const ordered = order ? order.filter((s) => chosenSlots.includes(s)) : shuffled(chosenSlots, rng);

  // Fill the slots, keeping every content word unique across prompt and phrases.
  const used = new Set(stems(lower));
  const seenPhrases = new Set();
  const picked = [];
  for (const slot of ordered) {
    if (picked.length >= target) break;
    const options = shuffled(fitting(slotBanks[slot], lower, tod, mode), rng).filter((e) => {
      const st = stems(e.t);
      return !seenPhrases.has(e.t) && st.every((w) => !used.has(w)) && !lower.includes(e.t);
    });
    if (options.length === 0) continue;
    const e = options[0];
    picked.push({ slot, entry: e });
    if (e.tod && tod === null) tod = e.tod; // later phrases keep to the same time of day
    seenPhrases.add(e.t);
    for (const w of stems(e.t)) used.add(w);
  }
  // Top up to 3 phrases from any slot if the conditions left too few.
  for (const slot of Object.keys(SLOT_WEIGHTS)) {
    if (picked.length >= 3) break;
    const options = shuffled(fitting(slotBanks[slot], lower, tod, mode), rng).filter(
      (e) => !seenPhrases.has(e.t) && stems(e.t).every((w) => !used.has(w)) && !lower.includes(e.t),
    );
    if (options.length === 0) continue;
    picked.push({ slot, entry: options[0] });
    seenPhrases.add(options[0].t);
    for (const w of stems(options[0].t)) used.add(w);
  }

  // Optional prefix form: the medium opens the rewrite.
  let head = prompt;
  const styleAt = picked.findIndex((p) => p.slot === 'style' && p.entry.pre);
  if (styleAt >= 0 && picked.length >= 4 && rng() < PREFIX_RATE) {
    head = `${picked[styleAt].entry.pre} ${prompt}`;
    picked.splice(styleAt, 1);
  }

  const build = () => [head, ...picked.map((p) => p.entry.t)].join(', ');
  let text = build();
  while (picked.length > 3 && (wordCount(text) > MAX_WORDS || estimateClipTokens(text) > MAX_CLIP_TOKENS_ESTIMATE)) {
    picked.pop();
    text = build();
  }
  return { text, mode, phrases: picked.length, prefixed: head !== prompt };
}

function main() {
  const { train, sftOnly } = splitPools();
  const prompts = [...train, ...sftOnly];
  const rng = mulberry32(SFT_SEED);
  const pairs = [];
  const allRefs = new Set();
  for (const rec of prompts) {
    const refs = new Set();
    let tries = 0;
    while (refs.size < REWRITES_PER_PROMPT) {
      tries += 1;
      if (tries > 200) throw new Error(`could not compose ${REWRITES_PER_PROMPT} distinct rewrites of "${rec.user_prompt}"`);
      const { text } = composeRewrite(rec, rng);
      if (refs.has(text) || allRefs.has(text)) continue;
      refs.add(text);
      allRefs.add(text);
      pairs.push({ ...rec, reference: text });
    }
  }
  const out = shuffled(pairs, rng);
  writeFileSync(resolve(REPO_ROOT, 'data/sft_pairs.jsonl'), toJsonl(out, 'sft', 5));
  console.log(
    `wrote data/sft_pairs.jsonl: ${out.length} pairs from ${prompts.length} user prompts ` +
      `(${train.length} training + ${sftOnly.length} SFT-only), seed ${SFT_SEED}`,
  );
}

main();
