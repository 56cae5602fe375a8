#!/usr/bin/env node
// Checks the prompt data files of vlm-grpo (plain Node ESM, no dependencies).
//
//   node tools/data/check-prompts.mjs [--data-dir DIR] [--clip-bpe FILE]
//
// --data-dir: folder holding the files (default: data/ of the repository).
// --clip-bpe: OpenAI CLIP's merges file bpe_simple_vocab_16e6.txt.gz (in the open_clip_torch or
//             clip Python packages) for exact CLIP token counts instead of the estimate.
//
// data/train_prompts.jsonl and data/val_prompts.jsonl:
//   - every line is a JSON object with exactly the keys id, user_prompt, category, difficulty
//     (strings), ids "<train|val>-NNNN" numbered 1… in order, difficulty easy|medium|hard,
//     user_prompt trimmed, non-empty, ≤ 1000 characters;
//   - word counts fit the difficulty (easy 1–3, medium 3–12, hard ≥ 6);
//   - prompts distinct inside each file after normalising case/whitespace, and no two with the
//     same content words (near-duplicates, see text-utils.mjs nearDuplicate);
//   - no train/val overlap: neither equal nor near-duplicate;
//   - ≥ 450 train and ≥ 120 val records, ≥ 10 categories including the ten required ones, every
//     category × difficulty cell filled (train ≥ 10, val ≥ 3), category totals within ±25 % of
//     the mean.
// data/sft_pairs.jsonl (user prompt → rich rewrite pairs for SFT):
//   - the same record rules plus a string `reference`, ids "sft-NNNNN"; ≥ 2,200 pairs, every
//     category × difficulty cell filled;
//   - no user prompt equal to or near-duplicating a validation prompt;
//   - no duplicate pair and no duplicate reference;
//   - every reference: keeps the user prompt verbatim (case-insensitive; "subject kept"), adds
//     ≥ 3 comma-separated phrases, repeats no phrase (phrases distinct, none already inside the
//     user prompt, no word 3-gram twice), ≤ 60 words, ≤ 75 CLIP tokens (exact with --clip-bpe,
//     otherwise the upper-bound estimate of text-utils.mjs);
//   - variety: no added phrase in more than 5 % of the pairs, ≥ 500 distinct added phrases.
// Prints the count table of each file and the SFT statistics; exits 1 when any check fails.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  contentKey, estimateClipTokens, loadClipTokenCounter, nearDuplicate, normalize, phrases, wordCount, words,
} from './text-utils.mjs';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const argDir = process.argv.indexOf('--data-dir');
const DATA_DIR = argDir > 0 ? resolve(process.argv[argDir + 1] ?? '.') : resolve(REPO_ROOT, 'data');
const argBpe = process.argv.indexOf('--clip-bpe');
const CLIP_BPE = argBpe > 0 ? resolve(process.argv[argBpe + 1] ?? '') : null;
const DIFFICULTIES = ['easy', 'medium', 'hard'];
const REQUIRED_CATEGORIES = [
  'basic', 'photography', 'portrait', 'landscape', 'architecture', 'creative', 'fantasy',
  'animals', 'food', 'vehicles',
];
const PROMPT_KEYS = ['id', 'user_prompt', 'category', 'difficulty'];
const WORDS_BY_DIFFICULTY = { easy: [1, 3], medium: [3, 12], hard: [6, Infinity] };

const problems = [];
const fail = (msg) => problems.push(msg);

/** Reads a JSONL file; returns records with their 1-based line numbers. */
function readJsonl(rel, keys, idPrefix, idWidth) {
  const path = resolve(DATA_DIR, rel.replace(/^data\//, ''));
  if (!existsSync(path)) {
    fail(`${rel}: file missing`);
    return [];
  }
  const text = readFileSync(path, 'utf8');
  if (!text.endsWith('\n')) fail(`${rel}: last line has no newline`);
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const records = [];
  lines.forEach((line, i) => {
    const where = `${rel}:${i + 1}`;
    let rec;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      fail(`${where}: bad JSON (${e.message})`);
      return;
    }
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) {
      fail(`${where}: not a JSON object`);
      return;
    }
    const got = Object.keys(rec);
    if (got.length !== keys.length || !keys.every((k) => got.includes(k))) {
      fail(`${where}: keys ${JSON.stringify(got)}, expected exactly ${JSON.stringify(keys)}`);
      return;
    }
    for (const k of keys) {
      if (typeof rec[k] !== 'string') {
        fail(`${where}: "${k}" must be a string`);
        return;
      }
    }
    const id = `${idPrefix}-${String(i + 1).padStart(idWidth, '0')}`;
    if (rec.id !== id) fail(`${where}: id "${rec.id}", expected "${id}"`);
    if (!DIFFICULTIES.includes(rec.difficulty)) fail(`${where}: difficulty "${rec.difficulty}"`);
    if (!/^[a-z][a-z0-9-]*$/.test(rec.category)) fail(`${where}: category "${rec.category}"`);
    const p = rec.user_prompt;
    if (p.trim() === '' || p !== p.trim() || /\s{2,}/.test(p) || p.length > 1000) {
      fail(`${where}: user_prompt must be trimmed, single-spaced, 1–1000 characters`);
    }
    const [lo, hi] = WORDS_BY_DIFFICULTY[rec.difficulty] ?? [1, Infinity];
    const n = wordCount(p);
    if (n < lo || n > hi) fail(`${where}: ${rec.difficulty} prompt has ${n} words ("${p}")`);
    records.push({ ...rec, line: i + 1, file: rel });
  });
  return records;
}

/** Exact and content-word duplicates inside one list of records. */
function checkDistinct(records, what) {
  const seen = new Map();
  const keys = new Map();
  for (const r of records) {
    const n = normalize(r.user_prompt);
    if (seen.has(n)) fail(`${r.file}:${r.line}: duplicate ${what} prompt of line ${seen.get(n)} ("${r.user_prompt}")`);
    else seen.set(n, r.line);
    const k = contentKey(r.user_prompt);
    if (keys.has(k) && keys.get(k).n !== n) {
      fail(`${r.file}:${r.line}: near-duplicate of line ${keys.get(k).line} ("${r.user_prompt}")`);
    } else keys.set(k, { line: r.line, n });
  }
}

/** Duplicate (user prompt, reference) pairs. */
function checkDistinctPairs(records) {
  const seen = new Map();
  for (const r of records) {
    const k = `${normalize(r.user_prompt)}\u0000${normalize(r.reference)}`;
    if (seen.has(k)) fail(`${r.file}:${r.line}: duplicate pair of line ${seen.get(k)}`);
    else seen.set(k, r.line);
  }
}

/** Records of `b` equal to or near-duplicating a record of `a`. */
function crossOverlap(a, b, label) {
  const exact = new Map(a.map((r) => [normalize(r.user_prompt), r]));
  const byKey = new Map(a.map((r) => [contentKey(r.user_prompt), r]));
  const hits = new Set();
  for (const r of b) {
    const n = normalize(r.user_prompt);
    const e = exact.get(n) ?? byKey.get(contentKey(r.user_prompt)) ?? a.find((x) => nearDuplicate(x.user_prompt, r.user_prompt));
    if (e && !hits.has(n)) {
      hits.add(n);
      fail(`${label}: ${r.file}:${r.line} "${r.user_prompt}" ~ ${e.file}:${e.line} "${e.user_prompt}"`);
    }
  }
  return hits.size;
}

/** Count table (category × difficulty) as text. */
function countTable(records) {
  const present = new Set(records.map((r) => r.category));
  const cats = [...REQUIRED_CATEGORIES.filter((c) => present.has(c)), ...[...present].filter((c) => !REQUIRED_CATEGORIES.includes(c)).sort()];
  const cell = (c, d) => records.filter((r) => r.category === c && r.difficulty === d).length;
  const rows = [['category', ...DIFFICULTIES, 'total']];
  for (const c of cats) {
    rows.push([c, ...DIFFICULTIES.map((d) => String(cell(c, d))), String(records.filter((r) => r.category === c).length)]);
  }
  rows.push(['total', ...DIFFICULTIES.map((d) => String(records.filter((r) => r.difficulty === d).length)), String(records.length)]);
  const w = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
  const fmt = (r) => '| ' + r.map((x, j) => (j === 0 ? x.padEnd(w[j]) : x.padStart(w[j]))).join(' | ') + ' |';
  return [fmt(rows[0]), '| ' + w.map((n, j) => (j === 0 ? '-'.repeat(n) : '-'.repeat(n - 1) + ':')).join(' | ') + ' |', ...rows.slice(1).map(fmt)].join('\n');
}

/** Coverage and balance of one prompt file. */
function checkCoverage(records, rel, minTotal, minCell) {
  if (records.length < minTotal) fail(`${rel}: ${records.length} records, need ≥ ${minTotal}`);
  const cats = [...new Set(records.map((r) => r.category))];
  if (cats.length < 10) fail(`${rel}: ${cats.length} categories, need ≥ 10`);
  for (const c of REQUIRED_CATEGORIES) if (!cats.includes(c)) fail(`${rel}: category "${c}" missing`);
  const totals = cats.map((c) => records.filter((r) => r.category === c).length);
  const mean = totals.reduce((s, x) => s + x, 0) / Math.max(1, totals.length);
  cats.forEach((c, i) => {
    if (Math.abs(totals[i] - mean) > 0.25 * mean) fail(`${rel}: category "${c}" has ${totals[i]} records, mean ${mean.toFixed(1)} (±25 %)`);
    for (const d of DIFFICULTIES) {
      const n = records.filter((r) => r.category === c && r.difficulty === d).length;
      if (n < minCell) fail(`${rel}: ${c}/${d} has ${n} records, need ≥ ${minCell}`);
    }
  });
}

const SFT_KEYS = [...PROMPT_KEYS, 'reference'];
const SFT_MIN = 2200;
const MAX_REF_WORDS = 60;
const MAX_CLIP_TOKENS = 75; // 77 minus <start_of_text> and <end_of_text>

/** Checks of data/sft_pairs.jsonl against the validation prompts; returns statistics text. */
function checkSft(sft, val) {
  const rel = 'data/sft_pairs.jsonl';
  if (sft.length < SFT_MIN) fail(`${rel}: ${sft.length} pairs, need ≥ ${SFT_MIN}`);
  const cats = [...new Set(sft.map((r) => r.category))];
  for (const c of REQUIRED_CATEGORIES) if (!cats.includes(c)) fail(`${rel}: category "${c}" missing`);
  for (const c of cats) {
    for (const d of DIFFICULTIES) {
      if (!sft.some((r) => r.category === c && r.difficulty === d)) fail(`${rel}: no ${c}/${d} pairs`);
    }
  }
  // No validation prompt (nor near-duplicate) among the SFT user prompts.
  const distinctPrompts = new Map();
  for (const r of sft) if (!distinctPrompts.has(normalize(r.user_prompt))) distinctPrompts.set(normalize(r.user_prompt), r);
  const valHits = crossOverlap(val, [...distinctPrompts.values()], 'validation prompt in SFT pairs');

  const clipCount = CLIP_BPE ? loadClipTokenCounter(CLIP_BPE) : estimateClipTokens;
  const refs = new Map();
  const phraseUse = new Map();
  const phraseHist = new Map();
  let maxWords = 0;
  let maxTokens = 0;
  let prefixed = 0;
  let kept = 0;
  for (const r of sft) {
    const where = `${rel}:${r.line}`;
    const ref = r.reference;
    if (ref.trim() === '' || ref !== ref.trim() || /\s{2,}/.test(ref)) fail(`${where}: reference must be trimmed and single-spaced`);
    const nRef = normalize(ref);
    if (refs.has(nRef)) fail(`${where}: duplicate reference of line ${refs.get(nRef)}`);
    else refs.set(nRef, r.line);
    // Subject kept: the user prompt verbatim inside the rewrite.
    const nPrompt = normalize(r.user_prompt);
    const at = nRef.indexOf(nPrompt);
    if (at < 0) fail(`${where}: reference does not contain the user prompt "${r.user_prompt}"`);
    else kept += 1;
    if (at > 0) prefixed += 1;
    // Added phrases: the comma-separated phrases after the prompt's own.
    const all = phrases(ref);
    const promptPhrases = phrases(r.user_prompt);
    const added = at >= 0 ? phrases(nRef.slice(at + nPrompt.length)) : all.slice(promptPhrases.length);
    if (added.length < 3) fail(`${where}: ${added.length} added phrase(s), need ≥ 3`);
    phraseHist.set(added.length, (phraseHist.get(added.length) ?? 0) + 1);
    if (new Set(all).size !== all.length) fail(`${where}: repeated phrase in "${ref}"`);
    for (const p of added) {
      if (` ${nPrompt} `.includes(` ${p} `)) fail(`${where}: added phrase "${p}" repeats the user prompt`);
      phraseUse.set(p, (phraseUse.get(p) ?? 0) + 1);
    }
    const w = words(ref);
    const grams = new Set();
    for (let i = 0; i + 2 < w.length; i += 1) {
      const g = `${w[i]} ${w[i + 1]} ${w[i + 2]}`;
      if (grams.has(g)) {
        fail(`${where}: "${g}" appears twice in the reference`);
        break;
      }
      grams.add(g);
    }
    const nWords = wordCount(ref);
    maxWords = Math.max(maxWords, nWords);
    if (nWords > MAX_REF_WORDS) fail(`${where}: reference has ${nWords} words (> ${MAX_REF_WORDS})`);
    const nTok = clipCount(ref);
    maxTokens = Math.max(maxTokens, nTok);
    if (nTok > MAX_CLIP_TOKENS) fail(`${where}: reference has ${nTok} CLIP tokens (> ${MAX_CLIP_TOKENS})`);
  }
  const top = [...phraseUse.entries()].sort((a, b) => b[1] - a[1]);
  const maxShare = top.length ? top[0][1] / sft.length : 0;
  if (maxShare > 0.05) fail(`${rel}: phrase "${top[0][0]}" is in ${(100 * maxShare).toFixed(1)} % of the pairs (> 5 %)`);
  if (phraseUse.size < 500) fail(`${rel}: only ${phraseUse.size} distinct added phrases (< 500)`);
  const trainCount = sft.length;
  const hist = [...phraseHist.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => `${k}: ${v}`).join(', ');
  return [
    `distinct user prompts: ${distinctPrompts.size}; validation prompts among them (equal or near-duplicate): ${valHits}`,
    `subject kept (user prompt verbatim): ${kept}/${trainCount}; medium-first openings: ${prefixed}`,
    `added phrases per rewrite: ${hist}`,
    `distinct added phrases: ${phraseUse.size}; most used: ${top.slice(0, 5).map(([p, n]) => `"${p}" ${n}`).join(', ')} (max share ${(100 * maxShare).toFixed(1)} %)`,
    `max words: ${maxWords} (limit ${MAX_REF_WORDS}); max CLIP tokens: ${maxTokens} (${CLIP_BPE ? 'exact, CLIP BPE' : 'upper-bound estimate'}; limit ${MAX_CLIP_TOKENS})`,
  ].join('\n');
}

function main() {
  const train = readJsonl('data/train_prompts.jsonl', PROMPT_KEYS, 'train', 4);
  const val = readJsonl('data/val_prompts.jsonl', PROMPT_KEYS, 'val', 4);
  checkDistinct(train, 'train');
  checkDistinct(val, 'val');
  checkCoverage(train, 'data/train_prompts.jsonl', 450, 10);
  checkCoverage(val, 'data/val_prompts.jsonl', 120, 3);
  const overlap = crossOverlap(train, val, 'train/val overlap');

  console.log(`data/train_prompts.jsonl: ${train.length} records\n\n${countTable(train)}\n`);
  console.log(`data/val_prompts.jsonl: ${val.length} records\n\n${countTable(val)}\n`);
  console.log(`train/val: ${overlap} equal or near-duplicate prompts\n`);

  const sft = readJsonl('data/sft_pairs.jsonl', SFT_KEYS, 'sft', 5);
  checkDistinctPairs(sft);
  const stats = checkSft(sft, val);
  console.log(`data/sft_pairs.jsonl: ${sft.length} pairs\n\n${countTable(sft)}\n\n${stats}`);

  if (problems.length > 0) {
    console.error(`\n${problems.length} problem(s):`);
    for (const p of problems.slice(0, 200)) console.error(`  - ${p}`);
    if (problems.length > 200) console.error(`  … and ${problems.length - 200} more`);
    process.exit(1);
  }
  console.log('\nall checks passed');
}

main();
