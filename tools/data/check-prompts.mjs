#!/usr/bin/env node
// Checks the prompt data files of vlm-grpo (plain Node ESM, no dependencies).
//
//   node tools/data/check-prompts.mjs [--data-dir DIR]
//
// --data-dir: folder holding the files (default: data/ of the repository).
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
// Prints the count table of each file; exits 1 when any check fails.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contentKey, nearDuplicate, normalize, wordCount } from './text-utils.mjs';

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const argDir = process.argv.indexOf('--data-dir');
const DATA_DIR = argDir > 0 ? resolve(process.argv[argDir + 1] ?? '.') : resolve(REPO_ROOT, 'data');
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
  const cats = [...new Set(records.map((r) => r.category))];
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
  console.log(`train/val: ${overlap} equal or near-duplicate prompts`);

  if (problems.length > 0) {
    console.error(`\n${problems.length} problem(s):`);
    for (const p of problems.slice(0, 200)) console.error(`  - ${p}`);
    if (problems.length > 200) console.error(`  … and ${problems.length - 200} more`);
    process.exit(1);
  }
  console.log('\nall checks passed');
}

main();
