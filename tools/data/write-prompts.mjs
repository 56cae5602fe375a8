#!/usr/bin/env node
// Writes data/train_prompts.jsonl and data/val_prompts.jsonl from the hand-written pools in
// prompt-lists.mjs.
//
// Each category × difficulty pool is shuffled with a seeded RNG (SPLIT_SEED) and cut into
//   validation: the first VAL_PER_CELL prompts,
//   SFT-only:   the next SFT_ONLY_PER_CELL prompts (used by write-sft-pairs.mjs, in no prompt file),
//   training:   the rest.
// Records keep the pool's hand-written order inside each cell; ids are numbered in file order.
//
//   node tools/data/write-prompts.mjs          # rewrite both files
//   node tools/data/check-prompts.mjs          # verify them

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { POOLS } from './prompt-lists.mjs';
import { mulberry32, shuffled } from './text-utils.mjs';

/** Seed of the train / validation / SFT-only split. */
export const SPLIT_SEED = 20240917;
/** Validation prompts per category × difficulty. */
export const VAL_PER_CELL = 4;
/** Prompts per category × difficulty kept out of both prompt files, for SFT pairs only. */
export const SFT_ONLY_PER_CELL = 8;
export const DIFFICULTIES = ['easy', 'medium', 'hard'];
export const CATEGORIES = Object.keys(POOLS);

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Splits every pool. Returns `{ train, val, sftOnly }`, each a list of
 * `{ user_prompt, category, difficulty }` in category, difficulty, pool order.
 */
export function splitPools() {
  const rng = mulberry32(SPLIT_SEED);
  const out = { train: [], val: [], sftOnly: [] };
  for (const category of CATEGORIES) {
    for (const difficulty of DIFFICULTIES) {
      const pool = POOLS[category][difficulty];
      const need = VAL_PER_CELL + SFT_ONLY_PER_CELL + 12;
      if (pool.length < need) {
        throw new Error(`pool ${category}/${difficulty} has ${pool.length} prompts, needs ≥ ${need}`);
      }
      const order = shuffled(
        pool.map((_, i) => i),
        rng,
      );
      const valIdx = new Set(order.slice(0, VAL_PER_CELL));
      const sftIdx = new Set(order.slice(VAL_PER_CELL, VAL_PER_CELL + SFT_ONLY_PER_CELL));
      pool.forEach((user_prompt, i) => {
        const rec = { user_prompt, category, difficulty };
        if (valIdx.has(i)) out.val.push(rec);
        else if (sftIdx.has(i)) out.sftOnly.push(rec);
        else out.train.push(rec);
      });
    }
  }
  return out;
}

/** JSONL text of records with ids `<prefix>-0001`…, keys in the order id, user_prompt, category, difficulty. */
export function toJsonl(records, prefix, width = 4) {
  return records
    .map((r, i) =>
      JSON.stringify({
        id: `${prefix}-${String(i + 1).padStart(width, '0')}`,
        user_prompt: r.user_prompt,
        category: r.category,
        difficulty: r.difficulty,
        ...(r.reference === undefined ? {} : { reference: r.reference }),
      }),
    )
    .join('\n')
    .concat('\n');
}

function main() {
  const { train, val, sftOnly } = splitPools();
  mkdirSync(resolve(REPO_ROOT, 'data'), { recursive: true });
  writeFileSync(resolve(REPO_ROOT, 'data/train_prompts.jsonl'), toJsonl(train, 'train'));
  writeFileSync(resolve(REPO_ROOT, 'data/val_prompts.jsonl'), toJsonl(val, 'val'));
  console.log(
    `wrote data/train_prompts.jsonl (${train.length}) and data/val_prompts.jsonl (${val.length}); ` +
      `${sftOnly.length} prompts held for SFT only (seed ${SPLIT_SEED})`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
