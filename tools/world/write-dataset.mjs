#!/usr/bin/env node
/**
 * Write the world's (image, caption) dataset for tools/world/train-all.py: a train split and a
 * held-out validation split whose captions never occur in train, in the binary format of
 * ./dataset-format.mjs, plus manifest.json (counts, seeds, tokenizer, timing).
 *
 * Sample i of a split is sampleScene(deriveSeed(seed + split offset, i), datasetSceneOptions()) of @vlm-grpo/world,
 * captioned with captionScene and rendered at --size; its aesthetic label is aestheticScore.
 * Captions are tokenised with @vlm-grpo/sd's ClipTokenizer on the world tokenizer
 * (data/world/tokenizer, trained by tools/world/train-tokenizer.mjs), the same ids the
 * packages feed the exported models. Rendering runs on --workers threads; the output is the
 * same for any number of workers.
 *
 * Usage: node tools/world/write-dataset.mjs --out DIR [--train 60000] [--val 2000] [--size 64]
 *          [--seed 20261207] [--workers N (default: CPUs − 1, at most 15)] [--tokenizer data/world/tokenizer]
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

import { encodeDataset, TEXTS_PER_RECORD, TOKEN_LENGTH } from './dataset-format.mjs';
import { bankPhrases } from './effects-table.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Seed offsets of the splits (added to --seed before deriving per-sample seeds). */
export const SPLIT_OFFSETS = { train: 0, val: 1_000_003 };

/**
 * Scene options of the dataset: half of the modifier phrases come from the prompt enhancer's
 * phrase banks (tools/data/phrase-banks.mjs), each with the effect its rule gives it, so the
 * models learn the phrases the policy actually writes; the rest from @vlm-grpo/world's lists.
 */
export function datasetSceneOptions() {
  return { phrasePool: bankPhrases().filter((phrase) => !phrase.includes(',')) };
}

/** Render samples [from, to) of a split: captions, subjects, aesthetic labels, RGB bytes. */
async function renderRange({ seed, offset, from, to, size }) {
  const world = await import('@vlm-grpo/world');
  const options = datasetSceneOptions();
  const records = [];
  const images = new Uint8Array((to - from) * size * size * 3);
  for (let i = from; i < to; i++) {
    const scene = world.sampleScene(world.deriveSeed(seed + offset, i), options);
    const image = world.renderScene(scene, { size });
    images.set(image.data, (i - from) * size * size * 3);
    records.push({
      caption: world.captionScene(scene),
      subject: world.captionScene(scene, { subjectOnly: true }),
      aesthetic: Math.round(world.aestheticScore(image) * 1e4) / 1e4,
      seed: scene.seed,
    });
  }
  return { records, images };
}

if (!isMainThread && workerData?.job === 'render') {
  renderRange(workerData).then((result) => parentPort.postMessage(result, [result.images.buffer]));
}

/** Render `count` samples of a split starting at index `first`, on `workers` threads. */
async function renderSplit({ seed, offset, first, count, size, workers }) {
  const per = Math.ceil(count / workers);
  const jobs = [];
  for (let w = 0; w < workers && w * per < count; w++) {
    const from = first + w * per;
    const to = first + Math.min(count, (w + 1) * per);
    jobs.push(
      workers === 1
        ? renderRange({ seed, offset, from, to, size })
        : new Promise((resolveJob, reject) => {
            const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { job: 'render', seed, offset, from, to, size } });
            worker.once('message', resolveJob);
            worker.once('error', reject);
            worker.once('exit', (code) => code !== 0 && reject(new Error(`render worker exited with code ${code}`)));
          }),
    );
  }
  const parts = await Promise.all(jobs);
  const images = new Uint8Array(count * size * size * 3);
  let at = 0;
  const records = [];
  for (const part of parts) {
    images.set(part.images, at);
    at += part.images.length;
    records.push(...part.records);
  }
  return { records, images };
}

/** Token ids [n·2·77] of the captions and subjects (BOS … EOS, padded with the pad id); throws on a text over 75 tokens. */
export function tokenize(tokenizer, records) {
  const ids = new Int32Array(records.length * TEXTS_PER_RECORD * TOKEN_LENGTH);
  records.forEach((record, i) => {
    [record.caption, record.subject].forEach((text, k) => {
      const body = tokenizer.tokenize(text);
      if (body.length > TOKEN_LENGTH - 2) throw new Error(`record ${i}: ${body.length} tokens (limit ${TOKEN_LENGTH - 2}): ${text}`);
      ids.set(tokenizer.encode(text, { maxLength: TOKEN_LENGTH }), (i * TEXTS_PER_RECORD + k) * TOKEN_LENGTH);
    });
  });
  return ids;
}

/** Vocabulary size of a tokenizer folder (tokenizer.json's vocab plus added tokens). */
function tokenizerVocabSize(dir) {
  const json = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  const ids = [...Object.values(json.model.vocab), ...(json.added_tokens ?? []).map((t) => t.id)];
  return Math.max(...ids) + 1;
}

function writeAtomic(path, data) {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

/** Write train.bin, val.bin and manifest.json into `out`. Returns the manifest. */
export async function writeDataset({ out, train = 60000, val = 2000, size = 64, seed = 20261207, workers = Math.min(15, Math.max(1, availableParallelism() - 1)), tokenizerDir = join(ROOT, 'data', 'world', 'tokenizer'), log = console.log }) {
  const started = Date.now();
  const { ClipTokenizer } = await import('@vlm-grpo/sd');
  const tokenizer = await ClipTokenizer.fromFolder(tokenizerDir);
  const { bosId: bos, eosId: eos, padId: pad } = tokenizer.specials;
  mkdirSync(out, { recursive: true });
  const trainSplit = await renderSplit({ seed, offset: SPLIT_OFFSETS.train, first: 0, count: train, size, workers });
  const trainCaptions = new Set(trainSplit.records.map((r) => r.caption));
  // Validation: draw 30 % more than needed, drop captions seen in train, keep the first `val`.
  const candidates = await renderSplit({ seed, offset: SPLIT_OFFSETS.val, first: 0, count: Math.ceil(val * 1.3) + 16, size, workers });
  const keep = [];
  const seenVal = new Set();
  for (let i = 0; i < candidates.records.length && keep.length < val; i++) {
    const caption = candidates.records[i].caption;
    if (trainCaptions.has(caption) || seenVal.has(caption)) continue;
    seenVal.add(caption);
    keep.push(i);
  }
  if (keep.length < val) throw new Error(`only ${keep.length} validation captions are new (asked for ${val})`);
  const per = size * size * 3;
  const valImages = new Uint8Array(val * per);
  keep.forEach((i, k) => valImages.set(candidates.images.subarray(i * per, (i + 1) * per), k * per));
  const valSplit = { records: keep.map((i) => candidates.records[i]), images: valImages };
  const splits = { train: trainSplit, val: valSplit };
  for (const [name, split] of Object.entries(splits)) {
    const tokens = tokenize(tokenizer, split.records);
    writeAtomic(join(out, `${name}.bin`), encodeDataset({ records: split.records, tokens, images: split.images, height: size, width: size, bos, eos, pad }));
  }
  const manifest = {
    format: 1,
    seed,
    size,
    splits: { train: { count: train, file: 'train.bin', seedOffset: SPLIT_OFFSETS.train }, val: { count: val, file: 'val.bin', seedOffset: SPLIT_OFFSETS.val, droppedAsSeenInTrain: keep.at(-1) + 1 - val } },
    tokenizer: { dir: tokenizerDir, bos, eos, pad, vocabSize: tokenizerVocabSize(tokenizerDir) },
    workers,
    seconds: Math.round((Date.now() - started) / 100) / 10,
  };
  writeAtomic(join(out, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  log(`world dataset: ${train} train + ${val} val pictures of ${size}×${size} → ${out} in ${manifest.seconds} s (${workers} workers)`);
  return manifest;
}

if (isMainThread && process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      train: { type: 'string', default: '60000' },
      val: { type: 'string', default: '2000' },
      size: { type: 'string', default: '64' },
      seed: { type: 'string', default: '20261207' },
      workers: { type: 'string' },
      tokenizer: { type: 'string', default: join(ROOT, 'data', 'world', 'tokenizer') },
    },
  });
  const int = (name, min) => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < min) {
      console.error(`write-dataset: --${name} must be an integer ≥ ${min}, got ${values[name]}`);
      process.exit(1);
    }
    return v;
  };
  if (!values.out) {
    console.error('usage: node tools/world/write-dataset.mjs --out DIR [--train N] [--val N] [--size 64] [--seed S] [--workers N] [--tokenizer DIR]');
    process.exit(1);
  }
  writeDataset({
    out: resolve(values.out),
    train: int('train', 1),
    val: int('val', 1),
    size: int('size', 8),
    seed: int('seed', 0),
    ...(values.workers ? { workers: int('workers', 1) } : {}),
    tokenizerDir: resolve(values.tokenizer),
  }).catch((error) => {
    console.error(`write-dataset: ${error.message}`);
    process.exit(1);
  });
}
