/**
 * vlm-grpo benchmark suite: builds, checks and times each stage and the whole GRPO iteration.
 *
 *   npx nx run tools:bench -- [--device webgpu] [--suite tiny|real|all] [--clip-model <folder>]
 *     [--sd-model <folder>] [--iterations 4] [--skip-build] [--json bench-results.json]
 *   npx nx run tools:bench -- --suite iteration [--config FILE] [--policy DIR] [--sd-model DIR]
 *     [--clip-model DIR] [--device webgpu] [--iterations 3] [--torch auto|skip] [--run-dir DIR]
 *
 * For every stage it runs a child process on the CPU (the reference) and, when `--device` is not
 * `cpu`, one on the device; the children print JSON and the parent compares their outputs (the
 * "check" column: largest absolute difference of a fixed output, device vs CPU) and times.
 *
 * Stages (each a child: `node tools/bench/bench.mjs --stage <name> …`):
 * - `policy`: generated tokens/s (sampling, batch 1 and 16, 48 new tokens) and one training step
 *   (sequenceLogProbs forward + backward + global-norm clip + AdamW) of the embedded
 *   prompt-enhancer (8 × 64 tokens) — suite `tiny`; and of a randomly initialised GPT-2 small
 *   (124M parameters, 8 × 128 tokens, made by `CausalLM.fromConfig`) — suite `real`. Check: the
 *   log-probabilities of a fixed sequence. On the CPU the policy runs on tfjs `wasm`.
 * - `sd`: one image of `--sd-model` (default: data/models/tiny-sd, 64 px, 2 steps, no CFG as in
 *   the default config), with the pipeline's stage timings. Check: the image's float pixels.
 * - `clip`: images/s of `embedImages` on raw 224-px RGB pixels (the package's preprocessing plus the
 *   image tower) at batch 1, 8, 32, 64, and texts/s, of data/models/tiny-clip (suite `tiny`) or
 *   `--clip-model` (suite `real`; e.g. the random ViT-B/32 of make-random-clip.py). Check: the
 *   embedding of a fixed image.
 * - `iteration`: the trainer with config/default_config.json for `--iterations` iterations (no
 *   validation); seconds per iteration by stage, mean over the iterations after the first.
 * The table is printed last; `--json` keeps every number.
 *
 * Suite `iteration` (the headline figure, tools/bench/iteration-suite.mjs): one GRPO iteration at
 * the configuration's scale per stage, ours beside a PyTorch reference of the same work run in the
 * same command on the same GPU (tools/bench/torch-iteration.py), with the ratio per stage.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, hostname, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { median, syntheticIds, timeMs as timeMsOf, trainStep } from './bench-utils.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const { values } = parseArgs({
  options: {
    stage: { type: 'string' },
    device: { type: 'string', default: 'cpu' },
    suite: { type: 'string', default: 'tiny' },
    model: { type: 'string' },
    'clip-model': { type: 'string' },
    'sd-model': { type: 'string' },
    'run-dir': { type: 'string' },
    config: { type: 'string' },
    policy: { type: 'string' },
    torch: { type: 'string', default: 'auto' },
    iterations: { type: 'string', default: '4' },
    repeats: { type: 'string', default: '3' },
    'skip-build': { type: 'boolean', default: false },
    json: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  const source = readFileSync(fileURLToPath(import.meta.url), 'utf8');
  console.log(source.slice(source.indexOf('/**') + 3, source.indexOf('*/')).replace(/^ \* ?/gmu, '').trim());
  process.exit(0);
}
const repeats = Number(values.repeats);

const timeMs = (fn, count = repeats) => timeMsOf(fn, count);

// ---------------------------------------------------------------------------------------------
// Stages (child processes)

async function policyStage(device, model) {
  const tf = await import('@tensorflow/tfjs');
  const { AdamW, CausalLM, GPT2_SMALL_CONFIG, clipByGlobalNorm, initBackend } = await import('@vlm-grpo/vlm');
  const report = await initBackend(device === 'cpu' ? 'wasm' : device === 'cuda' ? 'tensorflow' : device);
  const real = model === 'gpt2-small';
  const lm = real ? CausalLM.fromConfig({ ...GPT2_SMALL_CONFIG }, { seed: 0 }) : await CausalLM.fromPretrained(model, { backend: null });
  const vocab = lm.config.vocabSize;
  const [batch, promptLength, completionLength] = real ? [8, 16, 112] : [8, 16, 48];
  const prompts = syntheticIds(batch, promptLength, vocab, 5);
  const completions = syntheticIds(batch, completionLength, vocab, 11);
  const variables = lm.trainableVariables();
  const optimizer = new AdamW(variables);
  const lossOf = () => lm.sequenceLogProbs(prompts, completions).logProbs.sum().neg().div(batch * completionLength);
  // check: log-probs of the fixed sequence before any update
  const checkTensor = tf.tidy(() => lm.sequenceLogProbs(prompts.slice(0, 2), completions.slice(0, 2)).logProbs);
  const check = Array.from((await checkTensor.data()).slice(0, 32));
  checkTensor.dispose();
  const trainStepMs = await timeMs(() => trainStep({ tf, clipByGlobalNorm, optimizer, variables, lossOf, learningRate: 1e-6 }));
  // generation: sampling with the KV cache, 48 new tokens after 8 prompt tokens, batch 1 and 16
  const genTokensPerSecond = {};
  for (const rows of [1, 16]) {
    const newTokens = 48;
    const genMs = await timeMs(
      () => lm.generate(syntheticIds(rows, 8, vocab, 3), { maxNewTokens: newTokens, doSample: true, seed: 1, eosTokenIds: [] }),
      real ? 1 : repeats,
    );
    genTokensPerSecond[`b${rows}`] = (rows * newTokens * 1000) / genMs;
  }
  return {
    backend: report.backend,
    model: real ? 'gpt2-small (random)' : model,
    params: lm.numParameters(),
    trainShape: `${batch}×${promptLength + completionLength}`,
    trainStepMs,
    genTokensPerSecond,
    check,
  };
}

async function sdStage(device, model) {
  const { DiffusionPipeline } = await import('@vlm-grpo/sd');
  const pipe = await DiffusionPipeline.fromPretrained(model, { device, fallbackToCpu: false });
  const options = { steps: 2, guidanceScale: 1, seed: 7, outputType: 'float32' };
  const generate = () => pipe.generateImage('a photo of a cat', options);
  const first = await generate();
  const runs = [];
  const perImageMs = await timeMs(async () => {
    runs.push((await generate()).timings);
  });
  await pipe.dispose();
  const mid = (key) => median(runs.map((t) => t[key]));
  return {
    device,
    model,
    size: `${first.width}×${first.height}`,
    perImageMs,
    textEncoderMs: mid('textEncoderSeconds') * 1000,
    stepMs: median(runs.flatMap((t) => t.stepSeconds)) * 1000,
    vaeMs: mid('vaeSeconds') * 1000,
    check: Array.from((first.float32 ?? Float32Array.from(first.data, (x) => x / 255)).slice(0, 256)),
  };
}

async function clipStage(device, model) {
  const { CLIPRewardCalculator } = await import('@vlm-grpo/clip-reward');
  const image = (seed) => {
    const data = new Uint8Array(224 * 224 * 3);
    let s = seed * 2654435761;
    for (let i = 0; i < data.length; i++) {
      s = (s * 1103515245 + 12345) >>> 0;
      data[i] = s >>> 24;
    }
    return { data, width: 224, height: 224, channels: 3 };
  };
  const images = Array.from({ length: 64 }, (_, i) => image(i + 1));
  const rows = [];
  let check = null;
  let actual = device;
  for (const batch of [1, 8, 32, 64]) {
    const calc = await CLIPRewardCalculator.fromPretrained(model, { device, batchSize: batch, textCacheSize: 0, logger: () => {} });
    actual = calc.device;
    if (check === null) check = Array.from((await calc.embedImages([images[0]]))[0].slice(0, 32));
    const ms = await timeMs(() => calc.embedImages(images.slice(0, batch)));
    let counter = 0;
    const textMs = await timeMs(() => calc.embedTexts(Array.from({ length: batch }, () => `a photo of a cat number ${counter++}, detailed`)));
    rows.push({ batch, ms, imagesPerSecond: (batch * 1000) / ms, textsPerSecond: (batch * 1000) / textMs });
    await calc.dispose();
  }
  return { device: actual, model, rows, check };
}

async function iterationStage(device, iterations) {
  const out = mkdtempSync(join(tmpdir(), 'vlm-grpo-bench-'));
  try {
    const args = [
      join(ROOT, 'apps', 'trainer', 'dist', 'cli.js'),
      'train',
      '--device',
      device,
      '--output-dir',
      out,
      '--training_settings.num_iterations',
      String(iterations),
      '--training_settings.validation_every',
      '0',
      '--training_settings.checkpoint_every',
      String(iterations + 1),
    ];
    const child = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
    if (child.status !== 0) throw new Error(`trainer failed (${child.status}): ${(child.stderr || child.stdout).slice(-2000)}`);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    const later = lines.slice(1);
    const mean = (key) => later.reduce((sum, line) => sum + line.timings_s[key], 0) / later.length;
    return {
      device,
      iterations: lines.length,
      seconds: Object.fromEntries(['generation', 'rendering', 'scoring', 'update', 'total'].map((key) => [key, mean(key)])),
      meanReward: lines.map((line) => line.metrics.reward),
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (values.stage) {
  const stage = { policy: policyStage, sd: sdStage, clip: clipStage, iteration: iterationStage }[values.stage];
  if (!stage) throw new Error(`unknown stage ${values.stage}`);
  const result = await stage(values.device, values.stage === 'iteration' ? Number(values.iterations) : values.model);
  process.stdout.write(`\n@@RESULT@@${JSON.stringify(result)}\n`);
  process.exit(0);
}

// ---------------------------------------------------------------------------------------------
// Driver

function runChild(stage, device, model) {
  const args = [fileURLToPath(import.meta.url), '--stage', stage, '--device', device, '--repeats', values.repeats, '--iterations', values.iterations];
  if (model) args.push('--model', model);
  const started = performance.now();
  const child = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 });
  const seconds = (performance.now() - started) / 1000;
  const marker = child.stdout?.lastIndexOf('@@RESULT@@') ?? -1;
  if (child.status !== 0 || marker < 0) {
    const tail = `${child.stderr ?? ''}${child.stdout ?? ''}`.trim().split('\n').slice(-6).join(' | ');
    console.error(`  ${stage} on ${device}: FAILED (${child.status}) ${tail}`);
    return { error: tail, childSeconds: seconds };
  }
  console.error(`  ${stage} on ${device}${model ? ` (${model})` : ''}: ${seconds.toFixed(1)} s`);
  return { ...JSON.parse(child.stdout.slice(marker + "@@RESULT@@".length)), childSeconds: seconds };
}

function maxAbsDiff(a, b) {
  if (!a || !b || a.length !== b.length) return null;
  let largest = 0;
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i] - b[i]));
  return largest;
}

const device = values.device;
if (values.suite === 'iteration') {
  if (!['auto', 'skip'].includes(values.torch)) throw new Error(`--torch must be auto or skip, not ${values.torch}`);
  if (!values['skip-build']) {
    console.error('building the workspace (npx nx run-many -t build)…');
    const build = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '--output-style=static'], { cwd: ROOT, stdio: 'inherit' });
    if (build.status !== 0) process.exit(build.status ?? 1);
  }
  const { runIterationSuite } = await import('./iteration-suite.mjs');
  const result = await runIterationSuite(ROOT, {
    device,
    iterations: Number(values.iterations),
    repeats: Number(values.repeats),
    config: values.config,
    policy: values.policy,
    sdModel: values['sd-model'],
    clipModel: values['clip-model'],
    torch: values.torch,
    runDir: values['run-dir'],
  });
  const environment = { date: new Date().toISOString(), host: hostname(), cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, command: `node tools/bench/bench.mjs ${process.argv.slice(2).join(' ')}` };
  if (values.json) writeFileSync(values.json, `${JSON.stringify({ environment, ...result }, null, 2)}\n`);
  process.exit(0);
}
const devices = device === 'cpu' ? ['cpu'] : ['cpu', device];
if (!values['skip-build']) {
  console.error('building the workspace (npx nx run-many -t build)…');
  const build = spawnSync('npx', ['nx', 'run-many', '-t', 'build', '--output-style=static'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const suites = values.suite === 'all' ? ['tiny', 'real'] : [values.suite];
const jobs = [];
for (const suite of suites) {
  if (suite === 'tiny') {
    jobs.push(['policy', join(ROOT, 'data', 'models', 'prompt-enhancer')]);
    jobs.push(['sd', values['sd-model'] ?? join(ROOT, 'data', 'models', 'tiny-sd')]);
    jobs.push(['clip', join(ROOT, 'data', 'models', 'tiny-clip')]);
    jobs.push(['iteration', undefined]);
  } else {
    jobs.push(['policy', 'gpt2-small']);
    if (values['clip-model']) jobs.push(['clip', values['clip-model']]);
    else console.error('suite real: no --clip-model given; skipping the real-sized CLIP (tools/bench/make-random-clip.py makes one)');
  }
}
const results = [];
for (const [stage, model] of jobs) {
  // GPT-2 small with AdamW state (≈2 GB) plus activations does not fit the wasm backend's 4 GiB
  // WebAssembly heap, and the pure-JS backend would take minutes per step: no CPU column.
  const cpuImpossible = stage === 'policy' && model === 'gpt2-small';
  const byDevice = Object.fromEntries(
    devices.map((d) => [d, d === 'cpu' && cpuImpossible ? { error: 'not run (exceeds the 4 GiB wasm heap)' } : runChild(stage, d, model)]),
  );
  results.push({ stage, model, byDevice, check: devices.length === 2 ? maxAbsDiff(byDevice.cpu.check, byDevice[device].check) : null });
}

const environment = {
  date: new Date().toISOString(),
  host: hostname(),
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  command: `node tools/bench/bench.mjs ${process.argv.slice(2).join(' ')}`,
};
if (values.json) writeFileSync(values.json, `${JSON.stringify({ environment, results }, null, 2)}\n`);

const fmt = (x, digits = 1) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));
const rows = [];
for (const r of results) {
  const name = (r.model ?? '').split('/').pop() || 'default config';
  const cell = (d, pick) => {
    const error = r.byDevice[d]?.error;
    return error === undefined ? pick(r.byDevice[d]) : error.startsWith('not run') ? error : 'failed';
  };
  const add = (label, pick, better) => {
    const values_ = devices.map((d) => cell(d, pick));
    const cpu = Number.parseFloat(values_[0]);
    const dev = Number.parseFloat(values_[1]);
    const ratio = devices.length === 2 && Number.isFinite(cpu) && Number.isFinite(dev) && cpu > 0 && dev > 0 ? (better === 'lower' ? cpu / dev : dev / cpu) : null;
    rows.push([`${r.stage} ${name}`, label, ...values_, ratio === null ? '–' : `${ratio.toFixed(2)}×`, r.check === null ? '–' : r.check.toExponential(1)]);
  };
  if (r.stage === 'policy') {
    add('train step ms', (x) => `${fmt(x.trainStepMs)} (${x.trainShape}, ${x.backend})`, 'lower');
    add('gen tok/s (b=1)', (x) => fmt(x.genTokensPerSecond.b1, 0), 'higher');
    add('gen tok/s (b=16)', (x) => fmt(x.genTokensPerSecond.b16, 0), 'higher');
  } else if (r.stage === 'sd') {
    add('ms / image', (x) => `${fmt(x.perImageMs)} (${x.device})`, 'lower');
    add('  text / step / VAE ms', (x) => `${fmt(x.textEncoderMs)} / ${fmt(x.stepMs)} / ${fmt(x.vaeMs)}`, 'none');
  } else if (r.stage === 'clip') {
    for (const batch of [1, 8, 32, 64]) add(`images/s b=${batch}`, (x) => `${fmt(x.rows.find((row) => row.batch === batch)?.imagesPerSecond, 0)}${batch === 1 ? ` (${x.device})` : ''}`, 'higher');
    add('texts/s b=64', (x) => fmt(x.rows.find((row) => row.batch === 64)?.textsPerSecond, 0), 'higher');
  } else {
    add('s / iteration', (x) => fmt(x.seconds.total, 2), 'lower');
    add('  gen / render / score / update s', (x) => ['generation', 'rendering', 'scoring', 'update'].map((k) => fmt(x.seconds[k], 2)).join(' / '), 'none');
  }
}
const header = ['stage', 'measure', ...devices, devices.length === 2 ? `${device} vs cpu` : '–', 'check |Δ|'];
console.log(`\n${environment.cpus}, ${environment.memoryGiB} GiB, Node ${environment.node}, ${environment.date}`);
console.log(`| ${header.join(' | ')} |`);
console.log(`| ${header.map(() => '---').join(' | ')} |`);
for (const row of rows) console.log(`| ${row.join(' | ')} |`);
if (!existsSync(join(ROOT, 'apps', 'trainer', 'dist', 'cli.js'))) console.error('note: apps/trainer/dist is missing; build first');
