/**
 * The headline benchmark (`node tools/bench/bench.mjs --suite iteration`): one GRPO iteration at
 * the scale of a configuration, per stage, for our stack and, in the same run on the same
 * machine, for the PyTorch stack a Python user would pick (tools/bench/torch-iteration.py:
 * transformers `generate`, diffusers `StableDiffusionPipeline`, transformers CLIP, one TRL-style
 * GRPO step, of the same models and shapes), with the ratio per stage and in total.
 *
 *   node tools/bench/bench.mjs --suite iteration [--config FILE] [--policy DIR] [--sd-model DIR]
 *     [--clip-model DIR] [--device webgpu] [--iterations 3] [--torch auto|skip] [--run-dir DIR] [--json out.json]
 *
 * Ours: the trainer (`apps/trainer/dist/cli.js train`) with the configuration and the model
 * folders as overrides, validation cut to one prompt, for `--iterations` iterations; seconds per stage from its
 * metrics.jsonl, the mean over the iterations after the first (the first pays model loading and
 * kernel compilation; with one iteration, that one). PyTorch: a spec of the same work (the
 * effective configuration's batch, G, sampling, diffusion steps/guidance/size, and our run's mean
 * completion length) is handed to torch-iteration.py, which times each stage after a warm-up.
 * `--torch auto` runs it where `python3 -c "import torch; torch.cuda.is_available()"` says a CUDA
 * GPU is there, and says why not otherwise; the table then shows ours alone.
 * With no model flags it runs the configuration's own models (on the CPU: the tiny defaults, which
 * is what `tools:test` does so that the suite cannot rot).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const STAGES = ['generation', 'rendering', 'scoring', 'update', 'total'];

/**
 * Run a command, relaying each line of its stdout and stderr to our stderr as `  <label>: …` as
 * it comes; resolves with its exit status and its last 40 lines.
 */
function runRelayed(command, args, cwd, label) {
  const tail = [];
  return new Promise((resolvePromise, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const emit = (lines) => {
      for (const line of lines.filter((l) => l.trim())) {
        process.stderr.write(`  ${label}: ${line}\n`);
        tail.push(line);
        if (tail.length > 40) tail.shift();
      }
    };
    const relay = (stream) => {
      let pending = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        const lines = (pending + chunk).split(/\r?\n|\r/u);
        pending = lines.pop();
        emit(lines);
      });
      stream.on('end', () => emit([pending])); // a last line without a newline (a crash message) is kept too
    };
    relay(child.stdout);
    relay(child.stderr);
    child.on('error', reject);
    child.on('close', (status) => resolvePromise({ status, tail }));
  });
}

/**
 * Run our trainer for `iterations` and return seconds per stage (mean after the first) and the run's
 * facts. Validation is cut to what the trainer cannot skip (the baseline and the final one, on one
 * prompt, no images, no best model): it is not part of an iteration, and on a real configuration
 * two validations of 24 prompts cost more than the iterations. The trainer's log lines stream to
 * stderr as `  trainer: …`, so a run cut short (a device call's time limit) still shows how far
 * it got. `options.runDir` keeps the run folder (metrics.jsonl with each iteration's stage
 * timings as it is written, the log) instead of a removed temporary one.
 */
async function runOurs(root, options) {
  const out = options.runDir ? resolve(options.runDir) : mkdtempSync(join(tmpdir(), 'vlm-grpo-iteration-'));
  try {
    const args = [join(root, 'apps', 'trainer', 'dist', 'cli.js'), 'train', '--device', options.device, '--output-dir', out,
      '--training_settings.num_iterations', String(options.iterations), '--training_settings.validation_every', '0',
      '--training_settings.checkpoint_every', String(options.iterations + 1)];
    if (options.config) args.push('--config', options.config);
    for (const [key, value] of Object.entries(options.overrides)) args.push(`--${key}`, String(value));
    args.push('--validation_settings.num_prompts', '1', '--validation_settings.save_images', 'false', '--output_settings.save_best_model', 'false');
    const started = performance.now();
    const { status, tail } = await runRelayed(process.execPath, args, root, 'trainer');
    const wall = (performance.now() - started) / 1000;
    if (status !== 0) throw new Error(`trainer failed (${status}): ${tail.join('\n').slice(-3000)}`);
    const lines = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    const measured = lines.length > 1 ? lines.slice(1) : lines;
    const mean = (pick) => measured.reduce((sum, line) => sum + pick(line), 0) / measured.length;
    return {
      iterations: lines.length,
      wallSeconds: wall,
      seconds: Object.fromEntries(STAGES.map((key) => [key, mean((line) => line.timings_s[key])])),
      firstIteration: lines[0].timings_s,
      completionLength: mean((line) => line.metrics['completions/mean_length'] ?? 0),
    };
  } finally {
    if (!options.runDir) rmSync(out, { recursive: true, force: true });
  }
}

/** `generation 1.234 s, rendering …` for the stages of one timing record. */
function stageLine(seconds) {
  return STAGES.map((stage) => `${stage} ${Number.isFinite(seconds[stage]) ? seconds[stage].toFixed(3) : '–'} s`).join(', ');
}

/** Whether python3 has torch with a CUDA device; the reason when not. */
function torchAvailable() {
  const probe = spawnSync('python3', ['-c', 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 3)'], { encoding: 'utf8' });
  if (probe.error) return { ok: false, why: `python3 not runnable (${probe.error.message})` };
  if (probe.status === 3) return { ok: false, why: 'torch has no CUDA device here' };
  if (probe.status !== 0) return { ok: false, why: `no torch (${(probe.stderr || '').trim().split('\n').at(-1)})` };
  return { ok: true };
}

/** The spec of the same work for torch-iteration.py. */
async function torchSpec(root, options, config, ours) {
  const dataFile = resolve(root, config.data_settings.train_file);
  const prompts = readFileSync(dataFile, 'utf8').split('\n').filter((line) => line.trim()).slice(0, config.training_settings.batch_size)
    .map((line) => JSON.parse(line).user_prompt);
  const sdModel = resolve(root, config.model_settings.sd_model);
  const unetOnnx = join(sdModel, 'unet', 'model.onnx');
  let sdDtype = 'float32';
  if (existsSync(unetOnnx)) {
    const ort = await import('onnxruntime-node');
    const session = await ort.InferenceSession.create(unetOnnx);
    sdDtype = session.inputMetadata.find((input) => input.name === 'sample')?.type === 'float16' ? 'float16' : 'float32';
    await session.release();
  }
  const g = config.generation_settings;
  const d = config.diffusion_settings;
  const t = config.training_settings;
  return {
    policy: resolve(root, config.model_settings.vlm_model),
    sd_model: sdModel,
    sd_dtype: sdDtype,
    clip_model: resolve(root, config.model_settings.clip_model),
    prompts,
    batch_size: t.batch_size,
    num_generations: t.num_generations,
    completion_length: ours.completionLength,
    temperature: g.temperature,
    top_k: g.top_k,
    top_p: g.top_p,
    prompt_template: g.prompt_template ?? null,
    steps: d.steps,
    guidance_scale: d.guidance_scale,
    height: d.height,
    width: d.width,
    images_per_prompt: d.images_per_prompt,
    learning_rate: t.learning_rate,
    weight_decay: t.weight_decay,
    max_grad_norm: t.max_grad_norm,
    beta: t.beta,
  };
}

/**
 * Run the iteration suite; prints the table last and returns everything measured.
 * @param {string} root repository root
 * @param {{ device: string, iterations: number, config?: string, policy?: string, sdModel?: string, clipModel?: string, torch: 'auto'|'skip', repeats: number, runDir?: string }} options
 */
export async function runIterationSuite(root, options) {
  const overrides = {};
  if (options.policy) overrides['model_settings.vlm_model'] = resolve(options.policy);
  if (options.sdModel) overrides['model_settings.sd_model'] = resolve(options.sdModel);
  if (options.clipModel) overrides['model_settings.clip_model'] = resolve(options.clipModel);
  const { resolveTrainerConfig } = await import('@vlm-grpo/trainer');
  const config = await resolveTrainerConfig({ config: options.config ? resolve(options.config) : undefined, overrides });
  console.error(`iteration suite: ${options.config ?? 'config/default_config.json'} on ${options.device}, ${options.iterations} iteration(s)…`);
  const ours = await runOurs(root, { ...options, overrides });
  console.error(`  ours: ${ours.wallSeconds.toFixed(1)} s for ${ours.iterations} iteration(s) (with model loading and two one-prompt validations)`);
  console.error(`  ours per stage${ours.iterations > 1 ? ' (mean after the first)' : ''}: ${stageLine(ours.seconds)}`);
  if (ours.iterations > 1) console.error(`  ours, first iteration: ${stageLine(ours.firstIteration)}`);
  let torch = { skipped: 'not asked (--torch skip)' };
  if (options.torch !== 'skip') {
    const available = torchAvailable();
    if (!available.ok) {
      torch = { skipped: available.why };
    } else {
      const scratch = mkdtempSync(join(tmpdir(), 'vlm-grpo-torch-'));
      try {
        const specFile = join(scratch, 'spec.json');
        const outFile = join(scratch, 'out.json');
        writeFileSync(specFile, JSON.stringify(await torchSpec(root, options, config, ours), null, 2));
        const child = await runRelayed('python3', [join(root, 'tools', 'bench', 'torch-iteration.py'), '--spec', specFile, '--json', outFile, '--repeats', String(options.repeats)], root, 'pytorch');
        torch = child.status === 0 ? JSON.parse(readFileSync(outFile, 'utf8')) : { error: child.tail.slice(-8).join(' | ') };
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    }
    if (torch.skipped) console.error(`  PyTorch reference not run: ${torch.skipped}`);
    if (torch.error) console.error(`  PyTorch reference FAILED: ${torch.error}`);
  }
  const fmt = (x) => (typeof x === 'number' && Number.isFinite(x) ? x.toFixed(3) : '–');
  const rows = STAGES.map((stage) => {
    const a = ours.seconds[stage];
    const b = torch.seconds?.[stage];
    return [stage, fmt(a), fmt(b), typeof b === 'number' && b > 0 ? `${(a / b).toFixed(1)}×` : '–'];
  });
  const models = `policy ${config.model_settings.vlm_model}, diffusion ${config.model_settings.sd_model}, CLIP ${config.model_settings.clip_model}`;
  console.log(`\nOne GRPO iteration (${config.training_settings.batch_size} prompts × G ${config.training_settings.num_generations}, ` +
    `${config.diffusion_settings.steps} step(s) at ${config.diffusion_settings.height}², CFG ${config.diffusion_settings.guidance_scale}; ${models}), seconds:`);
  console.log(`| stage | ours (${options.device}) | PyTorch${torch.gpu ? ` (${torch.gpu})` : ''} | ours / PyTorch |`);
  console.log('| --- | --- | --- | --- |');
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  return { config: { model_settings: config.model_settings, training_settings: config.training_settings, diffusion_settings: config.diffusion_settings }, ours, torch };
}
