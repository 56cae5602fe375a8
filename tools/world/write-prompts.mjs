#!/usr/bin/env node
/**
 * Write the world's own prompt files, data/world/train_prompts.jsonl and val_prompts.jsonl, in
 * the project's record format ({ id, user_prompt, category, difficulty }; see data/README.md):
 * subjects of world scenes without modifiers, worded like typed prompts (captionScene of
 * @vlm-grpo/world with subjectOnly), for the default GRPO run in this world.
 *
 * Categories (what the prompt is about): `shapes` (one geometric shape), `things` (one moon,
 * house, tree, flower or cloud), `counting` (two to four of a kind), `pairs` (two kinds).
 * Difficulty: `easy` no position and no background (`a red circle`), `medium` a position or a
 * background (`three small blue stars at night`), `hard` both (`a pink heart and two green trees
 * on the left in a grassy field`). Prompts are distinct, val never repeats a train prompt, and
 * every prompt parses back with parseCaption to a scene without modifiers.
 *
 * Usage: node tools/world/write-prompts.mjs [--out data/world] [--train-per-cell 25] [--val-per-cell 6] [--seed 1207]
 */
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { captionScene, CLASHES, COLORS, POSITIONS, Random, SHAPES, SIZES } from '@vlm-grpo/world';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Prompt categories of the world. */
export const WORLD_CATEGORIES = ['shapes', 'things', 'counting', 'pairs'];
/** Difficulties, as in data/README.md. */
export const DIFFICULTIES = ['easy', 'medium', 'hard'];
const GEOMETRIC = SHAPES.filter((s) => !['moon', 'house', 'tree', 'flower', 'cloud'].includes(s));
const THINGS = ['moon', 'house', 'tree', 'flower', 'cloud'];
const BACKGROUNDS = ['white', 'black', 'gray', 'blue', 'green', 'yellow', 'pink', 'beige', 'field', 'beach', 'night', 'sky', 'underwater'];

/** One prompt scene of a category and difficulty. */
export function promptScene(rng, category, difficulty) {
  const withPosition = difficulty === 'hard' || (difficulty === 'medium' && rng.chance(0.5));
  const withBackground = difficulty === 'hard' || (difficulty === 'medium' && !withPosition);
  const background = withBackground ? rng.pick(BACKGROUNDS) : 'default';
  const clash = CLASHES[background] ?? [];
  const color = (avoid) => {
    for (;;) {
      const c = rng.pick(COLORS);
      if (!clash.includes(c) && c !== avoid) return c;
    }
  };
  const size = () => SIZES[rng.weighted([0.25, 0.5, 0.25])];
  const groups = [];
  if (category === 'shapes') groups.push({ shape: rng.pick(GEOMETRIC), color: color(), size: size(), count: 1 });
  else if (category === 'things') groups.push({ shape: rng.pick(THINGS), color: color(), size: size(), count: 1 });
  else if (category === 'counting') groups.push({ shape: rng.pick(SHAPES), color: color(), size: size(), count: 2 + rng.int(3) });
  else {
    const first = { shape: rng.pick(SHAPES), color: color(), size: size(), count: 1 + rng.weighted([0.6, 0.3, 0.1]) };
    let shape;
    do shape = rng.pick(SHAPES);
    while (shape === first.shape);
    groups.push(first, { shape, color: color(first.color), size: size(), count: 1 + rng.weighted([0.7, 0.3]) });
  }
  const position = withPosition ? rng.pick(POSITIONS.filter((p) => p !== 'anywhere')) : 'anywhere';
  return { groups, position, background, modifiers: [], seed: rng.int(2 ** 31) };
}

/** The records of both files (deterministic in the seed). */
export function worldPrompts({ trainPerCell = 25, valPerCell = 6, seed = 1207 } = {}) {
  const rng = new Random(seed);
  const seen = new Set();
  const train = [];
  const val = [];
  for (const category of WORLD_CATEGORIES) {
    for (const difficulty of DIFFICULTIES) {
      const cell = [];
      for (let tries = 0; cell.length < trainPerCell + valPerCell; tries++) {
        if (tries > 10000) throw new Error(`cannot find ${trainPerCell + valPerCell} distinct ${category}/${difficulty} prompts`);
        const prompt = captionScene(promptScene(rng, category, difficulty), { wordingSeed: rng.int(2 ** 31), subjectOnly: true });
        if (seen.has(prompt)) continue;
        seen.add(prompt);
        cell.push(prompt);
      }
      // The first valPerCell of each cell go to validation, the rest to training.
      cell.forEach((user_prompt, i) => (i < valPerCell ? val : train).push({ user_prompt, category, difficulty }));
    }
  }
  const number = (records, prefix) => records.map((r, i) => ({ id: `${prefix}-${String(i + 1).padStart(4, '0')}`, ...r }));
  return { train: number(train, 'train'), val: number(val, 'val') };
}

function writeJsonl(path, records) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  renameSync(tmp, path);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: join(ROOT, 'data', 'world') },
      'train-per-cell': { type: 'string', default: '25' },
      'val-per-cell': { type: 'string', default: '6' },
      seed: { type: 'string', default: '1207' },
    },
  });
  const { train, val } = worldPrompts({ trainPerCell: Number(values['train-per-cell']), valPerCell: Number(values['val-per-cell']), seed: Number(values.seed) });
  mkdirSync(values.out, { recursive: true });
  writeJsonl(join(values.out, 'train_prompts.jsonl'), train);
  writeJsonl(join(values.out, 'val_prompts.jsonl'), val);
  console.log(`${train.length} train + ${val.length} val world prompts → ${values.out}`);
}
