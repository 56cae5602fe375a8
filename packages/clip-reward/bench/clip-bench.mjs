#!/usr/bin/env node
/**
 * Benchmark of @vlm-grpo/clip-reward (run after `npx tsc -p tsconfig.lib.json`):
 *
 *   node --expose-gc bench/clip-bench.mjs [--model <folder|hub id>] [--device cpu|webgpu|cuda|auto]
 *                                         [--dtype fp32] [--batches 1000] [--memory-batch 8] [--seconds 3]
 *
 * 1. Throughput: images/s of `embedImages` (512×512 PNG buffers: decode + preprocess + vision model)
 *    and texts/s of `embedTexts` (distinct prompts, text cache off) for batch sizes 1, 8 and 32.
 * 2. Memory: `calculateRewards` (similarity + quality) on `--batches` batches of `--memory-batch`
 *    images; RSS and heap sampled every 100 batches after a GC. Flat = no leaked sessions or tensors.
 * Default model: the tiny CLIP test fixture (32 px input, projection 16), so model time is small
 * and the numbers mostly measure this package's own overhead; pass a real model for real numbers.
 */
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { CLIPRewardCalculator } from '../dist/index.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: fileURLToPath(new URL('../../../data/models/tiny-clip', import.meta.url)) },
    device: { type: 'string', default: 'cpu' },
    dtype: { type: 'string', default: 'fp32' },
    batches: { type: 'string', default: '1000' },
    'memory-batch': { type: 'string', default: '8' },
    seconds: { type: 'string', default: '3' },
  },
});
const seconds = Number(values.seconds);
const gc = globalThis.gc ?? (() => undefined);

async function makePng(seed, size = 512) {
  const data = Buffer.alloc(size * size * 3);
  let s = seed * 2654435761;
  for (let i = 0; i < data.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    const x = (i / 3) % size;
    const y = Math.floor(i / 3 / size);
    data[i] = (((x * (seed + 1)) ^ (y * 3)) + (s >>> 28)) & 255;
  }
  return sharp(data, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
}

const words = ['cat', 'dog', 'castle', 'forest', 'sunset', 'portrait', 'city', 'river', 'robot', 'ocean', 'mountain', 'flower'];
let textCounter = 0;
function freshTexts(n) {
  return Array.from({ length: n }, () => {
    const k = textCounter++;
    return `a ${words[k % 12]} in the style of ${words[(k * 7) % 12]}, detailed, ${k}`;
  });
}

async function rate(fn, itemsPerCall) {
  await fn(); // warm-up
  let calls = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await fn();
    calls++;
  }
  return (calls * itemsPerCall) / ((performance.now() - start) / 1000);
}

const pngs = await Promise.all([0, 1, 2, 3].map((i) => makePng(i)));
console.log(`model ${values.model}, device ${values.device}, dtype ${values.dtype}, node ${process.version}, ${process.platform}/${process.arch}`);
const rows = [];
for (const batch of [1, 8, 32]) {
  const calc = await CLIPRewardCalculator.fromPretrained(values.model, {
    device: values.device,
    dtype: values.dtype,
    batchSize: batch,
    textCacheSize: 0,
  });
  const images = Array.from({ length: batch }, (_, i) => pngs[i % pngs.length]);
  const imagesPerS = await rate(() => calc.embedImages(images), batch);
  const textsPerS = await rate(() => calc.embedTexts(freshTexts(batch)), batch);
  rows.push({ batch, imagesPerS, textsPerS, device: calc.device });
  await calc.dispose();
}
console.log('\n| batch | images/s (512² PNG → embedding) | texts/s (uncached) |');
console.log('| ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.batch} | ${r.imagesPerS.toFixed(1)} | ${r.textsPerS.toFixed(1)} |`);

const batches = Number(values.batches);
const mb = Number(values['memory-batch']);
const calc = await CLIPRewardCalculator.fromPretrained(values.model, {
  device: values.device,
  dtype: values.dtype,
  batchSize: mb,
  rewards: { similarity: {}, quality: {} },
});
const images = Array.from({ length: mb }, (_, i) => pngs[i % pngs.length]);
const samples = [];
const sample = (i) => {
  gc();
  const m = process.memoryUsage();
  samples.push({ batch: i, rssMiB: m.rss / 2 ** 20, heapMiB: m.heapUsed / 2 ** 20, externalMiB: m.external / 2 ** 20 });
};
const t0 = performance.now();
for (let i = 0; i < batches; i++) {
  if (i % 100 === 0) sample(i);
  await calc.calculateRewards(images, freshTexts(mb));
}
sample(batches);
const elapsed = (performance.now() - t0) / 1000;
await calc.dispose();
console.log(`\nmemory over ${batches} batches of ${mb} (calculateRewards: similarity + quality), ${elapsed.toFixed(1)} s, ${((batches * mb) / elapsed).toFixed(1)} pairs/s`);
console.log('| batch | RSS MiB | heap MiB | external MiB |');
console.log('| ---: | ---: | ---: | ---: |');
for (const s of samples) console.log(`| ${s.batch} | ${s.rssMiB.toFixed(1)} | ${s.heapMiB.toFixed(1)} | ${s.externalMiB.toFixed(1)} |`);
const after = samples.slice(2); // skip warm-up growth (first 200 batches)
const rss = after.map((s) => s.rssMiB);
console.log(`RSS after warm-up: min ${Math.min(...rss).toFixed(1)} MiB, max ${Math.max(...rss).toFixed(1)} MiB, last − first ${(rss.at(-1) - rss[0]).toFixed(1)} MiB`);
