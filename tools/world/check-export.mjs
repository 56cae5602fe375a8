#!/usr/bin/env node
/**
 * Check the exported world models through the project's own loaders, as the trainer uses them:
 * `CLIPRewardCalculator.fromPretrained` (transformers.js CLIP layout), `AestheticHead`
 * (@vlm-grpo/clip-reward) and `DiffusionPipeline.fromPretrained` (@vlm-grpo/sd, Optimum ONNX
 * layout, its DDIM port and Philox noise), on the held-out split of the world dataset:
 *
 *   - CLIP top-1 among 10 captions (true + 9 other val captions, seeded) on val pictures;
 *   - text-to-image: the picture generated for a val caption has a higher CLIP cosine with it than
 *     with 4 other val captions (targets ≥ 0.80 for both, issue 16);
 *   - the aesthetic head against the world's rule (Pearson r, R²) on val pictures;
 *   - the same numbers from train-all.py's report.json beside ours, when given.
 *
 * Usage: node tools/world/check-export.mjs --models DIR --data DIR [--report DIR/report.json]
 *          [--images 500] [--captions 200] [--steps N] [--guidance G] [--json FILE] [--sheet FILE.png]
 * DIR (--models) holds world-clip/ and world-sd/ (train-all.py --out); --steps/--guidance default
 * to report.json's recommended sampler, else 10 and 3. Exit status 1 when a target is missed or a
 * model does not load.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { AestheticHead, CLIPRewardCalculator } from '@vlm-grpo/clip-reward';
import { DiffusionPipeline } from '@vlm-grpo/sd';
import { Random } from '@vlm-grpo/world';

import { readDataset } from './dataset-format.mjs';
import { contactSheet, encodePng } from './png.mjs';

const dot = (a, b) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
};

/** Share of rows where the true candidate (index `i`) has the highest cosine among itself and `k` random others. */
export function topOfK(imageEmbeddings, textEmbeddings, k, rng) {
  let wins = 0;
  imageEmbeddings.forEach((image, i) => {
    const others = rng.sample([...textEmbeddings.keys()].filter((j) => j !== i), k);
    const own = dot(image, textEmbeddings[i]);
    if (others.every((j) => dot(image, textEmbeddings[j]) < own)) wins++;
  });
  return wins / imageEmbeddings.length;
}

/** Pearson r and R² of predictions against targets. */
export function regression(pred, target) {
  const n = pred.length;
  const mp = pred.reduce((s, v) => s + v, 0) / n;
  const mt = target.reduce((s, v) => s + v, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  let ssr = 0;
  for (let i = 0; i < n; i++) {
    sxy += (pred[i] - mp) * (target[i] - mt);
    sxx += (pred[i] - mp) ** 2;
    syy += (target[i] - mt) ** 2;
    ssr += (pred[i] - target[i]) ** 2;
  }
  return { pearson: sxy / Math.sqrt(sxx * syy), r2: 1 - ssr / syy };
}

async function main(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      models: { type: 'string' },
      data: { type: 'string' },
      report: { type: 'string' },
      images: { type: 'string', default: '500' },
      captions: { type: 'string', default: '200' },
      steps: { type: 'string' },
      guidance: { type: 'string' },
      json: { type: 'string' },
      sheet: { type: 'string' },
    },
  });
  if (!values.models || !values.data) throw new Error('usage: check-export.mjs --models DIR --data DIR [--report FILE] [--images N] [--captions N] [--steps N] [--guidance G] [--json FILE] [--sheet FILE.png]');
  const models = resolve(values.models);
  const python = values.report && existsSync(values.report) ? JSON.parse(readFileSync(values.report, 'utf8')) : undefined;
  const recommended = python?.stages?.eval?.recommended_sampler;
  const steps = Number(values.steps ?? recommended?.steps ?? 10);
  const guidance = Number(values.guidance ?? recommended?.guidance_scale ?? 3);
  const val = readDataset(join(resolve(values.data), 'val.bin'));
  const { height, width } = val.header;
  const picture = (i) => ({ data: val.images.subarray(i * height * width * 3, (i + 1) * height * width * 3), width, height });
  const result = { steps, guidance, errors: {} };
  const started = Date.now();

  // CLIP and the aesthetic head.
  const clip = await CLIPRewardCalculator.fromPretrained(join(models, 'world-clip'), { device: 'cpu', logger: () => {} });
  const nImages = Math.min(Number(values.images), val.records.length);
  const captions = val.records.map((r) => r.caption);
  const textEmb = await clip.embedTexts(captions);
  const imageEmb = await clip.embedImages(Array.from({ length: nImages }, (_, i) => picture(i)));
  result.clip_top1_of_10 = topOfK(imageEmb, textEmb, 9, new Random(7));
  result.clip_images = nImages;
  const headPath = join(models, 'world-clip', 'aesthetic_head.safetensors');
  if (existsSync(headPath)) {
    const head = await AestheticHead.fromSafetensors(headPath);
    const scores = imageEmb.map((e) => head.score(e));
    result.aesthetic = regression(scores, val.records.slice(0, nImages).map((r) => r.aesthetic));
  } else result.errors.aesthetic = `${headPath} missing`;

  // Text-to-image through @vlm-grpo/sd.
  const nCaptions = Math.min(Number(values.captions), val.records.length);
  const pipe = await DiffusionPipeline.fromPretrained(join(models, 'world-sd'), { device: 'cpu', validation: 'off' });
  const t0 = Date.now();
  const generated = [];
  for (let i = 0; i < nCaptions; i += 25) {
    const batch = captions.slice(i, Math.min(nCaptions, i + 25));
    generated.push(...(await pipe.generateImages(batch, { steps, guidanceScale: guidance, seed: 1000 + i, height, width })));
  }
  result.t2i_seconds_per_image = (Date.now() - t0) / 1000 / nCaptions;
  const genEmb = await clip.embedImages(generated.map((img) => ({ data: img.data, width: img.width, height: img.height })));
  result.t2i_beat_4_others = topOfK(genEmb, textEmb, 4, new Random(11));
  result.t2i_captions = nCaptions;
  result.real_beat_4_others = topOfK(imageEmb.slice(0, nCaptions), textEmb, 4, new Random(11));
  if (values.sheet) {
    const sheet = contactSheet(generated.slice(0, 32).map((img) => img.data), width, height, 8);
    writeFileSync(values.sheet, encodePng(sheet.data, sheet.width, sheet.height));
  }
  await pipe.dispose();
  await clip.dispose();
  result.seconds = (Date.now() - started) / 1000;

  const py = python?.stages?.eval ?? {};
  const pyAes = python?.stages?.aesthetic?.val ?? {};
  const rows = [
    ['CLIP top-1 among 10 (held-out pictures)', result.clip_top1_of_10, py.clip_top1_of_10, '≥ 0.80'],
    [`generated image beats 4 other captions (${steps} steps, guidance ${guidance})`, result.t2i_beat_4_others, py.t2i_beat_4_others, '≥ 0.80'],
    ['real held-out pictures, same test', result.real_beat_4_others, py.real_images_beat_4_others, ''],
    ['aesthetic head Pearson r', result.aesthetic?.pearson, pyAes.pearson, ''],
    ['aesthetic head R²', result.aesthetic?.r2, pyAes.r2, ''],
  ];
  const fmt = (v) => (typeof v === 'number' ? v.toFixed(3) : 'n/a');
  console.log('\n| measure (our TypeScript loaders) | ours | train-all.py | target |\n| --- | ---: | ---: | --- |');
  for (const [name, ours, theirs, target] of rows) console.log(`| ${name} | ${fmt(ours)} | ${fmt(theirs)} | ${target} |`);
  console.log(`text-to-image on the CPU: ${(result.t2i_seconds_per_image * 1000).toFixed(0)} ms per image; check took ${result.seconds.toFixed(0)} s`);
  result.pass = result.clip_top1_of_10 >= 0.8 && result.t2i_beat_4_others >= 0.8;
  if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  return result.pass ? 0 : 1;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error) => {
      console.error(`check-export: ${error.stack ?? error.message}`);
      process.exit(1);
    },
  );
}
