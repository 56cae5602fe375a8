#!/usr/bin/env node
/**
 * Benchmark of @vlm-grpo/sd on the tiny fixture models: seconds per image by stage (text
 * encoder, each denoising step, VAE decode) and peak RSS, each configuration in its own process
 * so peak RSS is per configuration. Run after `npm run build`:
 *
 *   node bench/sd-bench.mjs [--device cpu|webgpu|cuda|auto] [--runs 5] [--json out.json]
 *
 * One child per configuration runs: load (timed), one warm-up generation, then `runs` timed
 * generations of one image each; reported numbers are medians over the timed runs.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, '..', 'src', '__fixtures__');
/** `tiny-sd` is the repository's embedded model; `tiny-sd3` a test fixture; anything else a path. */
const modelPath = (name) =>
  name === 'tiny-sd' ? join(here, '..', '..', '..', 'data', 'models', 'tiny-sd') : name === 'tiny-sd3' ? join(fixtures, name) : name;
const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function child() {
  const { DiffusionPipeline } = await import('../dist/index.js');
  const model = arg('model');
  const memoryEfficient = args.includes('--memory-efficient');
  const runs = Number(arg('runs', '5'));
  const steps = Number(arg('steps', '4'));
  const guidanceScale = Number(arg('guidance', '7.5'));
  const device = arg('device', 'cpu');
  const t0 = performance.now();
  const pipe = await DiffusionPipeline.fromPretrained(modelPath(model), { device, memoryEfficient });
  const loadSeconds = (performance.now() - t0) / 1000;
  const gen = (seed) => pipe.generateImage('a photo of a cat', { steps, guidanceScale, seed });
  await gen(0);
  const results = [];
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    const img = await gen(r + 1);
    results.push({ wall: (performance.now() - t) / 1000, ...img.timings });
  }
  await pipe.dispose();
  const per = (k) => median(results.map((x) => x[k]));
  const stepMedians = Array.from({ length: results[0].stepSeconds.length }, (_, i) => median(results.map((x) => x.stepSeconds[i])));
  process.stdout.write(
    JSON.stringify({
      model,
      memoryEfficient,
      device,
      steps,
      guidanceScale,
      loadSeconds,
      perImageSeconds: per('wall'),
      textEncoderSeconds: per('textEncoderSeconds'),
      sessionLoadSecondsPerCall: per('loadSeconds'),
      stepSeconds: stepMedians,
      vaeSeconds: per('vaeSeconds'),
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
    }),
  );
}

function driver() {
  const device = arg('device', 'cpu');
  const runs = arg('runs', '5');
  const configs = [
    ['tiny-sd', ['--steps', '4', '--guidance', '7.5']],
    ['tiny-sd', ['--steps', '4', '--guidance', '7.5', '--memory-efficient']],
    ['tiny-sd', ['--steps', '1', '--guidance', '1']],
    ['tiny-sd3', ['--steps', '4', '--guidance', '7.5']],
    ['tiny-sd3', ['--steps', '4', '--guidance', '7.5', '--memory-efficient']],
  ];
  const rows = [];
  for (const [model, extra] of configs) {
    const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', '--model', model, '--device', device, '--runs', runs, ...extra], {
      encoding: 'utf8',
    });
    rows.push(JSON.parse(out.trim().split('\n').pop()));
  }
  const f = (x) => x.toFixed(4);
  console.log(`| model | mode | device | steps × CFG | s/image | text encoder s | steps s (each) | VAE s | session loads s | load s | peak RSS MiB |`);
  console.log(`| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`);
  for (const r of rows) {
    console.log(
      `| ${r.model} | ${r.memoryEfficient ? 'memory-efficient' : 'resident'} | ${r.device} | ${r.steps} × ${r.guidanceScale} | ${f(r.perImageSeconds)} | ${f(r.textEncoderSeconds)} | ${r.stepSeconds.map(f).join(', ')} | ${f(r.vaeSeconds)} | ${f(r.sessionLoadSecondsPerCall)} | ${f(r.loadSeconds)} | ${r.peakRssMiB.toFixed(0)} |`,
    );
  }
  const json = arg('json');
  if (json) writeFileSync(json, JSON.stringify(rows, null, 2));
}

if (args.includes('--child')) await child();
else driver();
