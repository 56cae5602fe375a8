#!/usr/bin/env node
/**
 * Train the world's CLIP tokenizer with the project's BPE trainer (tools/tokenizer/train-bpe.mjs,
 * CLIP scheme) and write it to data/world/tokenizer. Corpus: the captions of the first
 * --captions samples of the world dataset's train stream (the same scenes write-dataset.mjs
 * renders), every phrase of the prompt enhancer's phrase banks (so its rewrites tokenise into
 * whole words), and the world prompts of data/world/*_prompts.jsonl when present.
 *
 * Usage: node tools/world/train-tokenizer.mjs [--out data/world/tokenizer] [--captions 20000]
 *          [--vocab-size 2048] [--min-frequency 2] [--seed 20261207]
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { captionScene, deriveSeed, sampleScene } from '@vlm-grpo/world';

import { trainClipBpe, writeClipTokenizer } from '../tokenizer/train-bpe.mjs';
import { bankPhrases } from './effects-table.mjs';
import { datasetSceneOptions, SPLIT_OFFSETS } from './write-dataset.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The tokenizer's training texts. */
export function tokenizerCorpus({ captions = 20000, seed = 20261207 } = {}) {
  const texts = [];
  const options = datasetSceneOptions();
  for (let i = 0; i < captions; i++) texts.push(captionScene(sampleScene(deriveSeed(seed + SPLIT_OFFSETS.train, i), options)));
  texts.push(...bankPhrases());
  for (const split of ['train', 'val']) {
    const file = join(ROOT, 'data', 'world', `${split}_prompts.jsonl`);
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n')) if (line.trim()) texts.push(JSON.parse(line).user_prompt);
  }
  return texts;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: join(ROOT, 'data', 'world', 'tokenizer') },
      captions: { type: 'string', default: '20000' },
      'vocab-size': { type: 'string', default: '2048' },
      'min-frequency': { type: 'string', default: '2' },
      seed: { type: 'string', default: '20261207' },
    },
  });
  const started = Date.now();
  const texts = tokenizerCorpus({ captions: Number(values.captions), seed: Number(values.seed) });
  const trained = trainClipBpe(texts, { vocabSize: Number(values['vocab-size']), minFrequency: Number(values['min-frequency']) });
  writeClipTokenizer(resolve(values.out), trained);
  console.log(`${texts.length} texts → CLIP vocabulary ${trained.vocab.size} (${trained.merges.length} merges) in ${((Date.now() - started) / 1000).toFixed(1)} s → ${values.out}`);
}
