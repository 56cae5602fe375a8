/**
 * The closing table of tools/bench/cuda-suite.sh: ONNX Runtime's CUDA EP from Node.js beside
 * PyTorch on the same GPU, read from the JSON files the suite's steps wrote into one folder:
 *
 * - `unet-turbo.json`, `unet-sd15.json` (tools/bench/unet-webgpu.mjs --device cuda --vae): UNet
 *   step per batch, VAE decode per batch, ms per step of the whole image (host loop);
 * - `tower-fp32.json`, `tower-fp16.json` (tools/bench/clip-tower.mjs --device cuda);
 * - `torch-diffusion.json` (tools/bench/torch-diffusion.py): the same work in PyTorch, keys
 *   `{model}_unet_b{B}_{dtype}_ms`, `{model}_vae_b{B}_l{L}_{dtype}_ms`, `clip_tower_b{B}_{dtype}_ms`;
 * - `iteration-turbo.json` (bench.mjs --suite iteration): seconds per stage, ours and PyTorch's;
 * - `steps.tsv` (the suite's `name rc seconds` per step).
 * A file that is missing (a step not run, cut or failed) leaves its rows out or shows `–`.
 *
 *   node tools/bench/cuda-summary.mjs DIR [--json summary.json]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';

import { isEntryPoint } from './bench-utils.mjs';

/** The parsed JSON file `name` of `dir`, or undefined when it is missing or not JSON. */
function readJson(dir, name) {
  try {
    return JSON.parse(readFileSync(join(dir, name), 'utf8'));
  } catch {
    return undefined;
  }
}

/** `a / b` as `1.23×` when both are positive numbers, else `–`. */
function ratio(a, b) {
  return typeof a === 'number' && typeof b === 'number' && a > 0 && b > 0 ? `${(a / b).toFixed(2)}×` : '–';
}

/** A number with `digits` decimals, `–` when it is not a finite number. */
function fmt(value, digits = 1) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** The dtype name of an ONNX input type (`float16` → `fp16`). */
function dtypeName(type) {
  return type === 'float16' ? 'fp16' : type === 'float32' ? 'fp32' : type ?? '?';
}

/**
 * The rows of the summary from the JSON files of `dir` (see the file header): each
 * `{ work, ours, torch, ratio }` with ours and PyTorch in ms (seconds for the iteration stages,
 * said in `work`), `ratio` ours / PyTorch; plus the steps' exit statuses and times.
 */
export function summarise(dir) {
  const rows = [];
  let device;
  const torchAll = readJson(dir, 'torch-diffusion.json') ?? {};
  const used = new Set();
  /** PyTorch's number for `key`, remembered as shown. */
  const torchMs = (key) => {
    used.add(key);
    return torchAll[key];
  };
  for (const file of ['unet-turbo.json', 'unet-sd15.json']) {
    const ours = readJson(dir, file);
    if (!ours) continue;
    device ??= ours.device;
    const model = basename(String(ours.model).replace(/\/+$/u, ''));
    for (const r of ours.unet ?? []) {
      const dtype = dtypeName(r.dtype);
      const reference = torchMs(`${model}_unet_b${r.batch}_${dtype}_ms`);
      rows.push({ work: `${model} UNet step ${dtype}, batch ${r.batch}`, ours: r.ms, torch: reference, ratio: ratio(r.ms, reference), error: r.error });
    }
    for (const r of ours.vae ?? []) {
      const dtype = dtypeName(r.dtype);
      const reference = torchMs(`${model}_vae_b${r.batch}_l${r.latent}_${dtype}_ms`);
      rows.push({ work: `${model} VAE decode ${r.image}² ${dtype}, batch ${r.batch}`, ours: r.ms, torch: reference, ratio: ratio(r.ms, reference), error: r.error });
    }
    for (const r of ours.image ?? []) {
      const perStep = (r.loopS / r.steps) * 1000;
      rows.push({ work: `${model} ${r.steps}-call image, ms per UNet step (${r.loop} loop, batch 2)`, ours: perStep, torch: undefined, ratio: '–' });
    }
  }
  for (const dtype of ['fp32', 'fp16']) {
    const tower = readJson(dir, `tower-${dtype}.json`);
    if (!tower) continue;
    device ??= tower.device;
    for (const r of tower.rows ?? []) {
      const reference = torchMs(`clip_tower_b${r.batch}_${dtype}_ms`);
      if (r.batch !== 64 && reference === undefined) continue;
      rows.push({ work: `CLIP image tower ${dtype}, batch ${r.batch}`, ours: r.ms, torch: reference, ratio: ratio(r.ms, reference) });
    }
  }
  // PyTorch's other measurements (the dtype we did not run: SD 1.5 in fp16, SD-Turbo in fp32)
  for (const [key, value] of Object.entries(torchAll)) {
    if (key.endsWith('_ms') && !used.has(key)) rows.push({ work: `PyTorch only: ${key.slice(0, -3)}`, ours: undefined, torch: value, ratio: '–' });
  }
  const iteration = readJson(dir, 'iteration-turbo.json');
  if (iteration?.ours?.seconds) {
    for (const [stage, seconds] of Object.entries(iteration.ours.seconds)) {
      const reference = iteration.torch?.seconds?.[stage];
      rows.push({ work: `GRPO iteration (sd-turbo-clip), ${stage}, seconds`, ours: seconds, torch: reference, ratio: ratio(seconds, reference), seconds: true });
    }
  }
  const steps = existsSync(join(dir, 'steps.tsv'))
    ? readFileSync(join(dir, 'steps.tsv'), 'utf8').trim().split('\n').filter(Boolean).map((line) => {
        const [name, rc, seconds] = line.split('\t');
        return { name, rc: /^\d+$/u.test(rc) ? Number(rc) : rc, seconds: Number(seconds) };
      })
    : [];
  return { device: device ?? 'cuda', gpu: torchAll.gpu ?? null, rows, steps, torchSkipped: iteration?.torch?.skipped ?? iteration?.torch?.error };
}

/** The summary as Markdown: the steps' status line, then one table row per measurement. */
export function formatSummary(summary) {
  const lines = [];
  if (summary.steps.length > 0) lines.push(`steps: ${summary.steps.map((s) => `${s.name} ${s.rc === 0 ? 'ok' : typeof s.rc === 'number' ? `rc=${s.rc}` : s.rc} ${s.seconds} s`).join(', ')}`);
  if (summary.torchSkipped) lines.push(`iteration suite's PyTorch reference: ${summary.torchSkipped}`);
  lines.push(`| work | ORT ${summary.device === 'cuda' ? 'CUDA' : summary.device} EP from Node.js | PyTorch${summary.gpu ? ` (${summary.gpu})` : ''} | ours / PyTorch |`);
  lines.push('| --- | ---: | ---: | ---: |');
  for (const r of summary.rows) {
    const digits = r.seconds ? 3 : r.ours !== undefined && r.ours < 10 ? 2 : 1;
    lines.push(`| ${r.work} | ${r.error ? `error: ${r.error}` : fmt(r.ours, digits)} | ${fmt(r.torch, digits)} | ${r.ratio} |`);
  }
  if (summary.rows.length === 0) lines.push('| (no results: see the steps\' logs) | – | – | – |');
  return `${lines.join('\n')}\n`;
}

if (isEntryPoint(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { json: { type: 'string' } } });
  if (positionals.length !== 1) {
    console.error('usage: node tools/bench/cuda-summary.mjs DIR [--json summary.json]');
    process.exit(2);
  }
  const summary = summarise(positionals[0]);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(formatSummary(summary));
}
