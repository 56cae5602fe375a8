import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { loadPrompts } from '@vlm-grpo/data';
import { ClipTokenizer } from '@vlm-grpo/sd';
import { captionScene, deriveSeed, parseCaption, renderScene, sampleScene } from '@vlm-grpo/world';
import { afterAll, describe, expect, it } from 'vitest';

import { trainClipBpe } from '../tokenizer/train-bpe.mjs';
import { readDataset, TOKEN_LENGTH } from './dataset-format.mjs';
import { tokenizerCorpus } from './train-tokenizer.mjs';
import { effectsTable } from './effects-table.mjs';
import { datasetSceneOptions, SPLIT_OFFSETS, writeDataset } from './write-dataset.mjs';
import { DIFFICULTIES, WORLD_CATEGORIES, worldPrompts } from './write-prompts.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const TOKENIZER = join(ROOT, 'data', 'world', 'tokenizer');
const work = mkdtempSync(join(tmpdir(), 'vlm-grpo-world-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const python = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

describe('write-dataset', () => {
  const seed = 99;
  const one = join(work, 'one');
  const two = join(work, 'two');

  it('writes the scenes it says, tokenised by the project tokenizer, with val captions unseen in train', async () => {
    await writeDataset({ out: one, train: 24, val: 8, seed, workers: 1, log: () => {} });
    const tokenizer = await ClipTokenizer.fromFolder(TOKENIZER);
    const train = readDataset(join(one, 'train.bin'));
    const val = readDataset(join(one, 'val.bin'));
    expect(train.records).toHaveLength(24);
    expect(val.records).toHaveLength(8);
    for (const [split, data] of [['train', train], ['val', val]]) {
      data.records.forEach((record, i) => {
        if (split === 'train') {
          const scene = sampleScene(deriveSeed(seed + SPLIT_OFFSETS.train, i), datasetSceneOptions());
          expect(record.caption).toBe(captionScene(scene));
          expect(Buffer.from(data.images.subarray(i * 64 * 64 * 3, (i + 1) * 64 * 64 * 3)).equals(Buffer.from(renderScene(scene).data))).toBe(true);
        }
        expect(parseCaption(record.caption).modifiers.length).toBeGreaterThanOrEqual(0);
        expect([...data.tokens.subarray((i * 2) * TOKEN_LENGTH, (i * 2 + 1) * TOKEN_LENGTH)]).toEqual(tokenizer.encode(record.caption));
        expect([...data.tokens.subarray((i * 2 + 1) * TOKEN_LENGTH, (i * 2 + 2) * TOKEN_LENGTH)]).toEqual(tokenizer.encode(record.subject));
      });
    }
    const seen = new Set(train.records.map((r) => r.caption));
    expect(val.records.some((r) => seen.has(r.caption))).toBe(false);
  });

  // Worker threads load @vlm-grpo/world's build (dist/), so this runs the CLI in a plain Node
  // process (tools:test builds the packages first).
  it('gives the same bytes with several worker threads', () => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    execFileSync(process.execPath, [join(ROOT, 'tools', 'world', 'write-dataset.mjs'), '--out', two, '--train', '24', '--val', '8', '--seed', String(seed), '--workers', '3'], { env, encoding: 'utf8' });
    for (const file of ['train.bin', 'val.bin']) expect(readFileSync(join(two, file)).equals(readFileSync(join(one, file)))).toBe(true);
  });

  it.skipIf(!python)('is read identically by train-all.py (numpy reader) and its self-test passes', () => {
    const script = join(ROOT, 'tools', 'world', 'train-all.py');
    const code = `import importlib.util, json, sys
spec = importlib.util.spec_from_file_location('ta', ${JSON.stringify(script)}); m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)
d = m.read_dataset(${JSON.stringify(join(one, 'val.bin'))})
print(json.dumps({'n': len(d['records']), 'tokens': d['tokens'][3].tolist(), 'pixels': d['images'][5, 10, 20].tolist(), 'shape': list(d['images'].shape)}))`;
    const out = JSON.parse(execFileSync('python3', ['-c', code], { encoding: 'utf8' }));
    const val = readDataset(join(one, 'val.bin'));
    expect(out.n).toBe(8);
    expect(out.shape).toEqual([8, 64, 64, 3]);
    expect(out.tokens).toEqual([[...val.tokens.subarray(6 * TOKEN_LENGTH, 7 * TOKEN_LENGTH)], [...val.tokens.subarray(7 * TOKEN_LENGTH, 8 * TOKEN_LENGTH)]]);
    const p = ((5 * 64 + 10) * 64 + 20) * 3;
    expect(out.pixels).toEqual([...val.images.subarray(p, p + 3)]);
    expect(execFileSync('python3', [script, '--selftest'], { encoding: 'utf8' })).toContain('"selftest": "ok"');
  });

  it('rejects a damaged file with its name', () => {
    const bad = join(work, 'bad.bin');
    execFileSync('sh', ['-c', `head -c 5000 ${join(one, 'val.bin')} > ${bad}`]);
    expect(() => readDataset(bad)).toThrow(/bad\.bin: \d+ bytes, expected/);
  });
});

describe('world prompts (data/world)', () => {
  it('are valid prompt records, parse as modifier-free world captions and fill every cell', async () => {
    const train = await loadPrompts(join(ROOT, 'data', 'world', 'train_prompts.jsonl'));
    const val = await loadPrompts(join(ROOT, 'data', 'world', 'val_prompts.jsonl'));
    expect(train.records).toHaveLength(300);
    expect(val.records).toHaveLength(72);
    for (const record of [...train.records, ...val.records]) {
      const parsed = parseCaption(record.user_prompt);
      expect(parsed.modifiers, record.user_prompt).toEqual([]);
      const hard = parsed.position !== 'anywhere' && parsed.background !== 'default';
      const easy = parsed.position === 'anywhere' && parsed.background === 'default';
      expect(record.difficulty).toBe(easy ? 'easy' : hard ? 'hard' : 'medium');
      expect(record.category === 'pairs').toBe(parsed.groups.length === 2);
    }
    for (const category of WORLD_CATEGORIES) {
      for (const difficulty of DIFFICULTIES) {
        expect(train.records.filter((r) => r.category === category && r.difficulty === difficulty)).toHaveLength(25);
        expect(val.records.filter((r) => r.category === category && r.difficulty === difficulty)).toHaveLength(6);
      }
    }
    const seen = new Set(train.records.map((r) => r.user_prompt));
    expect(val.records.filter((r) => seen.has(r.user_prompt))).toEqual([]);
    expect(seen.size).toBe(300);
  });

  it('are what write-prompts.mjs writes (reproducible)', () => {
    const { train, val } = worldPrompts();
    const read = (name) => readFileSync(join(ROOT, 'data', 'world', name), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(read('train_prompts.jsonl')).toEqual(train);
    expect(read('val_prompts.jsonl')).toEqual(val);
  });
});

describe('world tokenizer (data/world/tokenizer)', () => {
  it('is what train-tokenizer.mjs trains (reproducible) and keeps every caption within CLIP\'s 77 tokens', async () => {
    const trained = trainClipBpe(tokenizerCorpus(), { vocabSize: 2048, minFrequency: 2 });
    const committed = JSON.parse(readFileSync(join(TOKENIZER, 'tokenizer.json'), 'utf8'));
    expect(committed.model.merges).toEqual(trained.merges);
    expect(committed.model.vocab).toEqual(Object.fromEntries(trained.vocab));
    const tokenizer = await ClipTokenizer.fromFolder(TOKENIZER);
    let longest = 0;
    for (let i = 0; i < 2000; i++) longest = Math.max(longest, tokenizer.tokenize(captionScene(sampleScene(i, datasetSceneOptions()))).length);
    expect(longest).toBeLessThanOrEqual(75);
    // Whole words for the world's vocabulary.
    expect(tokenizer.tokenize('two small red circles, golden hour light').length).toBeLessThanOrEqual(8);
  });
});

describe('effects table', () => {
  it('matches the counts packages/world/README.md states (365 of the 835 bank phrases have an effect)', () => {
    const { withEffect, total } = effectsTable();
    expect({ withEffect, total }).toEqual({ withEffect: 365, total: 835 });
    expect(readFileSync(join(ROOT, 'packages', 'world', 'README.md'), 'utf8')).toContain(`${withEffect} have an effect and ${total - withEffect} have none`);
  });
});
