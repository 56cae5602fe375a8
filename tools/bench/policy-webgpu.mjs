#!/usr/bin/env node
/**
 * The fused WebGPU policy engine (@vlm-grpo/policy-webgpu) on real-sized models with random
 * weights. Models: GPT-2 small (vlm's GPT2_SMALL_CONFIG) and a SmolLM2-135M-sized Llama (576 wide,
 * 30 layers, 9 heads / 3 KV heads, MLP 1536, vocabulary 49,152, tied); a folder path in
 * `--models` loads that model instead (config.json + safetensors, e.g. a test fixture).
 *
 * - train: one GRPO training step (forwardTrain + backward + clip/AdamW) of B×T tokens (half
 *   prompt, half completion), median of `--repeats` after a warm-up; forward only; per-kernel GPU
 *   time of one profiled step from timestamp queries; achieved TFLOP/s (6·params·tokens per step,
 *   attention excluded). `--train-variants` repeats it with other engine options on a fresh engine
 *   each: `fp32` (the default), `f16` (precision 'f16': mixed precision, the f16 matmul kernel the
 *   engine picks), `f16-plain` / `f16-sgm` (the plain or the subgroup-matrix (tensor-core) f16
 *   kernel forced; each variant prints and records the kernel it ran), `fp32-layer` / `f16-layer`
 *   (recompute 'layer': activation recomputation); each variant adds the plan's GPU buffer bytes
 *   (`engine.planMemory`) so the memory saved is measured beside the time it costs.
 * - generate: `engine.generate` (KV-cache prefill, one recorded encoder per decode step, on-GPU
 *   sampler) of `--prompt-tokens` synthetic prompt tokens and exactly `--new-tokens` new tokens
 *   (EOS disabled: `eosTokenIds: []`; every row's length is checked) at each batch of
 *   `--gen-batches`, greedy and sampled (temperature 1, top-k 50, seed 1): one warm-up call
 *   (records the plan), then the median of `--repeats` calls; tokens/s = batch · new tokens /
 *   seconds per call (prefill included); time to first token = the median of calls with one new
 *   token (prefill + first sample + read-back), after their own warm-up. The same work as
 *   tools/bench/torch-reference.py's generate section (Hugging Face `generate`).
 *   `tfjs-webgpu` in `--gen-engines` adds @vlm-grpo/vlm's tfjs `CausalLM.generate` on tfjs'
 *   WebGPU backend (its own random weights; same prompts and options) for reference, at batch 1
 *   only (it is ~30× slower), `--tfjs-repeats` timed calls; it runs after the engine is disposed.
 *
 * Build first (dist is what this imports): npx nx run @vlm-grpo/policy-webgpu:build
 * Usage: node tools/bench/policy-webgpu.mjs [--models gpt2,smollm2|<folder>] [--sections train,generate]
 *        [--batch 8] [--tokens 128] [--repeats 10] [--gen-batches 1,16] [--prompt-tokens 8]
 *        [--new-tokens 48] [--decoding greedy,sampled] [--gen-engines policy-webgpu,tfjs-webgpu]
 *        [--tfjs-repeats 1] [--train-variants fp32,f16,f16-plain,f16-sgm,fp32-layer,f16-layer] [--out policy-webgpu.json] [--tiny]
 *        (--tiny: 2 layers, vocabulary 4,096: CPU smoke runs; `--gen-engines policy-webgpu` skips tfjs)
 *
 * JSON (--out; rewritten after each model, so a run cut short keeps the finished models):
 * { device, date, options: { the parsed flags }, results: [{
 *     model, params,
 *     train section: batch, tokens, trainStepMs, forwardMs, gpuKernelMsPerStep (null without
 *       timestamp-query), dispatchesPerStep, tflops, profile: [{ kernel, ms, count }], memory
 *       (planMemory bytes: activations, backward, inputs, total) — all of the first variant;
 *       trainVariants: [{ variant, precision, recompute, matmulKernel, matmulKernelNote, trainStepMs, forwardMs, tflops, memory }]
 *       (every variant of --train-variants, the first included; a variant the adapter cannot run,
 *       such as f16 without shader-f16, is { variant, precision, recompute, skipped: reason }),
 *     generate section: generation: [{ engine: 'policy-webgpu' | 'tfjs-webgpu', decoding:
 *       'greedy' | 'sampled', batch, promptTokens, newTokens, repeats, msPerCall, tokensPerS,
 *       timeToFirstTokenMs }] }] }
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import { CausalLM, GPT2_SMALL_CONFIG, initBackend, parseModelConfig, weightSpecs } from '@vlm-grpo/vlm';
import { WebGpuPolicyEngine, createPolicyDevice, createProfiler } from '@vlm-grpo/policy-webgpu';
import { median, syntheticIds } from './bench-utils.mjs';

const USAGE =
  'node tools/bench/policy-webgpu.mjs [--models gpt2,smollm2|<folder>] [--sections train,generate] [--batch 8] [--tokens 128] [--repeats 10] ' +
  '[--gen-batches 1,16] [--prompt-tokens 8] [--new-tokens 48] [--decoding greedy,sampled] [--gen-engines policy-webgpu,tfjs-webgpu] [--tfjs-repeats 1] ' +
  '[--train-variants fp32,f16,f16-plain,f16-sgm,fp32-layer,f16-layer] [--out file.json] [--tiny]';
const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: 'gpt2,smollm2' },
    sections: { type: 'string', default: 'train,generate' },
    batch: { type: 'string', default: '8' },
    tokens: { type: 'string', default: '128' },
    'dawn-toggles': { type: 'string' },
    repeats: { type: 'string', default: '10' },
    'gen-batches': { type: 'string', default: '1,16' },
    'prompt-tokens': { type: 'string', default: '8' },
    'new-tokens': { type: 'string', default: '48' },
    decoding: { type: 'string', default: 'greedy,sampled' },
    'gen-engines': { type: 'string', default: 'policy-webgpu,tfjs-webgpu' },
    'tfjs-repeats': { type: 'string', default: '1' },
    'train-variants': { type: 'string', default: 'fp32' },
    out: { type: 'string' },
    tiny: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

/** Generation options per decoding row (EOS is disabled for every row). */
const DECODING = { greedy: { doSample: false }, sampled: { doSample: true, temperature: 1, topK: 50, seed: 1 } };
const list = (flag, allowed) => {
  const values = args[flag].split(',').filter(Boolean);
  const unknown = values.filter((value) => allowed && !allowed.includes(value));
  if (values.length === 0 || unknown.length) throw new Error(`policy-webgpu.mjs: --${flag}: expected a comma-separated list${allowed ? ` of ${allowed.join(', ')}` : ''}, received "${args[flag]}"`);
  return values;
};
const count = (flag, value = args[flag]) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`policy-webgpu.mjs: --${flag}: expected a positive integer, received "${value}"`);
  return n;
};
const sections = list('sections', ['train', 'generate']);
const genEngines = list('gen-engines', ['policy-webgpu', 'tfjs-webgpu']);
const decodings = list('decoding', Object.keys(DECODING));
const genBatches = list('gen-batches').map((b) => count('gen-batches', b));
const [batch, tokens, repeats, promptTokens, newTokens, tfjsRepeats] = ['batch', 'tokens', 'repeats', 'prompt-tokens', 'new-tokens', 'tfjs-repeats'].map((flag) => count(flag));

const SMOLLM2_135M_CONFIG = {
  model_type: 'llama',
  architectures: ['LlamaForCausalLM'],
  hidden_size: 576,
  num_hidden_layers: 30,
  num_attention_heads: 9,
  num_key_value_heads: 3,
  intermediate_size: 1536,
  vocab_size: 49152,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
  rope_theta: 100000,
  tie_word_embeddings: true,
  eos_token_id: 2,
};
const CONFIGS = { gpt2: GPT2_SMALL_CONFIG, smollm2: SMOLLM2_135M_CONFIG };

/** Random weights by Hugging Face name: normal(0, 0.02) matrices and embeddings, unit norms, zero biases. */
function randomWeights(rawConfig) {
  const config = parseModelConfig(rawConfig, 'bench');
  let seed = 12345;
  const uniform = () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return (seed + 0.5) / 4294967296;
  };
  const weights = new Map();
  for (const spec of weightSpecs(config)) {
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(size);
    if (spec.kind === 'norm') data.fill(1);
    else if (spec.kind !== 'bias') for (let i = 0; i < size; i += 1) data[i] = 0.02 * Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    weights.set(spec.name, { shape: spec.shape, data });
  }
  return { config, weights };
}

/** Kernel family of a dispatch label: "c_attn.3.dw" → "c_attn.dw". */
const family = (label) => label.replace(/\.\d+(?=\.|$)/gu, '');

/**
 * The model named by a `--models` entry: a built-in config (with `--tiny`: 2 layers, vocabulary
 * 4,096) and random weights, or a folder's config.json (weights loaded by the engines).
 */
function modelSpec(name) {
  const base = CONFIGS[name];
  if (base) {
    // GPT-2's EOS (50256, also its padding) moves to the last id of the tiny vocabulary, as in torch-reference.py --tiny.
    const raw = args.tiny ? { ...base, vocab_size: 4096, ...(base.model_type === 'gpt2' ? { n_layer: 2, bos_token_id: 4095, eos_token_id: 4095 } : { num_hidden_layers: 2 }) } : base;
    return { label: name + (args.tiny ? ' (tiny: 2 layers, vocabulary 4096)' : ''), raw, dir: null };
  }
  if (!name.includes('/')) throw new Error(`policy-webgpu.mjs: --models: unknown model "${name}" (gpt2, smollm2, or a model folder path)`);
  let raw;
  try {
    raw = JSON.parse(readFileSync(join(name, 'config.json'), 'utf8'));
  } catch (error) {
    throw new Error(`policy-webgpu.mjs: --models: ${join(name, 'config.json')} could not be read: ${error.message}`, { cause: error });
  }
  return { label: basename(name), raw, dir: name };
}

/**
 * Time `generate(prompts, options)` of one engine at one batch and decoding (see the header):
 * tokens/s of `newTokens`-token calls and the time to the first token. Throws when a call returns
 * other lengths than asked (EOS is disabled, so only a position limit can shorten them).
 */
async function timeGeneration({ engine, generate, vocab, batch: rows, decoding, repeats: calls }) {
  const prompts = syntheticIds(rows, promptTokens, vocab, 3);
  const call = async (maxNewTokens) => {
    const t0 = performance.now();
    const out = await generate(prompts, { ...DECODING[decoding], eosTokenIds: [], maxNewTokens });
    const ms = performance.now() - t0;
    const lengths = out.completionIds.map((row) => row.length);
    if (lengths.length !== rows || lengths.some((n) => n !== maxNewTokens)) {
      throw new Error(`policy-webgpu.mjs: ${engine} generate returned completions of [${lengths.join(', ')}] tokens, expected ${rows} × ${maxNewTokens} (EOS disabled): does the model's position limit cover ${promptTokens} + ${maxNewTokens}?`);
    }
    return ms;
  };
  const medianOf = async (maxNewTokens) => {
    await call(maxNewTokens);
    const times = [];
    for (let i = 0; i < calls; i += 1) times.push(await call(maxNewTokens));
    return median(times);
  };
  const msPerCall = await medianOf(newTokens);
  const timeToFirstTokenMs = await medianOf(1);
  return { engine, decoding, batch: rows, promptTokens, newTokens, repeats: calls, msPerCall, tokensPerS: (rows * newTokens) / (msPerCall / 1000), timeToFirstTokenMs };
}

/** Engine options of each `--train-variants` name. */
const TRAIN_VARIANTS = {
  fp32: { precision: 'fp32', recompute: 'none' },
  f16: { precision: 'f16', recompute: 'none' },
  'f16-plain': { precision: 'f16', recompute: 'none', f16Matmul: 'plain' },
  'f16-sgm': { precision: 'f16', recompute: 'none', f16Matmul: 'subgroup-matrix' },
  'fp32-layer': { precision: 'fp32', recompute: 'layer' },
  'f16-layer': { precision: 'f16', recompute: 'layer' },
};

/** The train section of one model (see the header): timings, profile and TFLOP/s, printed and returned. */
async function trainSection(engine, vocab, params) {
  const half = tokens / 2;
  const ids = syntheticIds(batch, tokens, vocab, 1);
  const step = { promptIds: ids.map((row) => row.slice(0, half)), completionIds: ids.map((row) => row.slice(half)) };
  const grads = step.completionIds.map((row) => Float32Array.from(row, (_, t) => ((t % 7) - 3) / 100));
  const trainStep = async () => {
    await engine.forwardTrain(step);
    await engine.backward(grads);
    await engine.optimizerStep({ learningRate: 1e-5, maxGradNorm: 1 });
  };
  const forwardOnly = () => engine.logProbs(step);
  // log-probs of the untouched weights, to compare variants (f16 vs fp32) on the same model
  const initialLogProbs = (await engine.logProbs(step)).logProbs;
  await trainStep();
  await forwardOnly();
  const stepTimes = [];
  for (let i = 0; i < repeats; i += 1) {
    const t0 = performance.now();
    await trainStep();
    stepTimes.push(performance.now() - t0);
  }
  const forwardTimes = [];
  for (let i = 0; i < repeats; i += 1) {
    const t0 = performance.now();
    await forwardOnly();
    forwardTimes.push(performance.now() - t0);
  }
  let profile = [];
  let gpuMs = null;
  if (context.hasTimestamps) {
    const profiler = createProfiler(context);
    engine.profiler = profiler;
    await trainStep();
    engine.profiler = null;
    const byFamily = new Map();
    for (const [label, { ms, count: n }] of await profiler.collect()) {
      const entry = byFamily.get(family(label)) ?? { ms: 0, count: 0 };
      entry.ms += ms;
      entry.count += n;
      byFamily.set(family(label), entry);
    }
    profile = [...byFamily.entries()].map(([kernel, v]) => ({ kernel, ...v })).sort((a, b) => b.ms - a.ms);
    gpuMs = profile.reduce((s, p) => s + p.ms, 0);
    profiler.dispose();
  }
  const stepMs = median(stepTimes);
  const flop = 6 * params * batch * tokens;
  const train = {
    batch,
    tokens,
    trainStepMs: stepMs,
    forwardMs: median(forwardTimes),
    gpuKernelMsPerStep: gpuMs,
    dispatchesPerStep: profile.reduce((s, p) => s + p.count, 0) || null,
    tflops: flop / (stepMs / 1000) / 1e12,
    profile,
    memory: engine.planMemory({ sequences: batch, promptTokens: half, completionTokens: tokens - half }),
    initialLogProbs,
    matmulKernel: engine.matmulKernel,
    matmulKernelNote: engine.matmulKernelNote,
  };
  console.log(`  matmul kernel: ${engine.matmulKernel}${engine.matmulKernelNote ? ` (${engine.matmulKernelNote})` : ''}`);
  console.log(`  train: ${batch}×${tokens} tokens, step ${stepMs.toFixed(1)} ms (median of ${repeats}), forward ${train.forwardMs.toFixed(1)} ms, ${train.tflops.toFixed(2)} TFLOP/s (6·N·tokens), plan buffers ${(train.memory.total / 2 ** 20).toFixed(1)} MiB (activations ${(train.memory.activations / 2 ** 20).toFixed(1)})`);
  if (gpuMs !== null) {
    console.log(`  GPU time in kernels ${gpuMs.toFixed(1)} ms over ${train.dispatchesPerStep} dispatches (profiled step, one pass per dispatch)`);
    console.log('  kernel                          ms   count');
    for (const p of profile.slice(0, 20)) console.log(`  ${p.kernel.padEnd(28)} ${p.ms.toFixed(2).padStart(8)} ${String(p.count).padStart(6)}`);
  }
  return train;
}

// Dawn toggles for the instance, e.g. --dawn-toggles vulkan_enable_f16_on_nvidia (Dawn withholds
// shader-f16 on NVIDIA's Vulkan driver unless this toggle is on)
const dawnToggles = args['dawn-toggles'] ? args['dawn-toggles'].split(',').filter(Boolean) : [];
const context = await createPolicyDevice({ timestamps: true, ...(dawnToggles.length > 0 ? { dawnFlags: [`enable-dawn-features=${dawnToggles.join(',')}`] } : {}) });
console.log(`device: ${context.adapterInfo}${context.hasTimestamps ? '' : ' (no timestamp-query: no per-kernel profile)'}`);
const trainVariants = list('train-variants', Object.keys(TRAIN_VARIANTS));
const options = { models: args.models, sections, batch, tokens, repeats, genBatches, promptTokens, newTokens, decodings, genEngines, tfjsRepeats, trainVariants, tiny: args.tiny };
const results = [];
const save = () => {
  if (args.out) writeFileSync(args.out, `${JSON.stringify({ device: context.adapterInfo, date: new Date().toISOString(), options, results }, null, 2)}\n`);
};
const ourGeneration = sections.includes('generate') && genEngines.includes('policy-webgpu');
const tfjsGeneration = sections.includes('generate') && genEngines.includes('tfjs-webgpu') && genBatches.includes(1);
for (const name of args.models.split(',').filter(Boolean)) {
  const { label, raw, dir } = modelSpec(name);
  const config = parseModelConfig(raw, dir ?? 'bench');
  const params = weightSpecs(config).reduce((n, spec) => n + spec.shape.reduce((a, b) => a * b, 1), 0);
  const result = { model: label, params };
  results.push(result);
  console.log(`\n${label}: ${(params / 1e6).toFixed(1)}M params`);
  if (sections.includes('train') || ourGeneration) {
    const weights = dir ? undefined : randomWeights(raw).weights;
    const load = (extra) => {
      const engineOptions = { context, adamW: { weightDecay: 0.01 }, ...extra };
      return dir ? WebGpuPolicyEngine.fromPretrained(dir, engineOptions) : WebGpuPolicyEngine.fromWeights(raw, weights, engineOptions);
    };
    const [firstVariant, ...otherVariants] = sections.includes('train') ? trainVariants : ['fp32'];
    const engine = await load(TRAIN_VARIANTS[firstVariant]);
    if (sections.includes('train')) {
      if (trainVariants.length > 1) console.log(`  variant ${firstVariant}`);
      const first = await trainSection(engine, config.vocabSize, params);
      const reference = first.initialLogProbs;
      delete first.initialLogProbs;
      Object.assign(result, first);
      // largest |Δ| of a variant's log-probs (untrained weights, the same tokens) from the first variant's
      const maxDiff = (a) => a.reduce((m, row, r) => row.reduce((mm, v, t) => Math.max(mm, Math.abs(v - reference[r][t])), m), 0);
      const row = (variant, t) => ({ variant, ...TRAIN_VARIANTS[variant], matmulKernel: t.matmulKernel, matmulKernelNote: t.matmulKernelNote, trainStepMs: t.trainStepMs, forwardMs: t.forwardMs, tflops: t.tflops, memory: t.memory, logProbMaxAbsDiffVsFirst: t.initialLogProbs ? maxDiff(t.initialLogProbs) : 0 });
      result.trainVariants = [row(firstVariant, first)];
      for (const variant of otherVariants) {
        console.log(`  variant ${variant}`);
        let other;
        try {
          other = await load(TRAIN_VARIANTS[variant]);
        } catch (error) {
          // a variant the adapter cannot run (f16 without shader-f16) is reported, not fatal
          if (error?.code !== 'WEBGPU_UNSUPPORTED') throw error;
          console.log(`  skipped: ${error.message}`);
          result.trainVariants.push({ variant, ...TRAIN_VARIANTS[variant], skipped: error.message });
          save();
          continue;
        }
        try {
          const measured = row(variant, await trainSection(other, config.vocabSize, params));
          console.log(`  log-probs vs ${firstVariant} (untrained weights, same tokens): max |Δ| ${measured.logProbMaxAbsDiffVsFirst.toExponential(2)}`);
          result.trainVariants.push(measured);
        } finally {
          other.dispose();
        }
        save();
      }
    }
    if (ourGeneration) {
      result.generation = [];
      for (const rows of genBatches) {
        for (const decoding of decodings) {
          result.generation.push(await timeGeneration({ engine: 'policy-webgpu', generate: (ids, o) => engine.generate(ids, o), vocab: config.vocabSize, batch: rows, decoding, repeats }));
        }
      }
    }
    engine.dispose();
  }
  if (tfjsGeneration) {
    const report = await initBackend('webgpu');
    if (report.backend !== 'webgpu') throw new Error(`policy-webgpu.mjs: tfjs-webgpu: tfjs runs on ${report.backend}, not webgpu`);
    const model = dir ? await CausalLM.fromPretrained(dir, { backend: null }) : CausalLM.fromConfig({ ...raw }, { seed: 0 });
    result.generation ??= [];
    for (const decoding of decodings) {
      result.generation.push(await timeGeneration({ engine: 'tfjs-webgpu', generate: (ids, o) => model.generate(ids, o), vocab: config.vocabSize, batch: 1, decoding, repeats: tfjsRepeats }));
    }
    model.dispose();
  }
  if (result.generation) {
    console.log(`  generation: ${promptTokens} prompt + ${newTokens} new tokens, EOS off; median of ${repeats} calls (tfjs: ${tfjsRepeats}) after a warm-up`);
    console.log('  engine          decoding  batch    tokens/s     ms/call  first token ms');
    for (const g of result.generation) {
      console.log(`  ${g.engine.padEnd(15)} ${g.decoding.padEnd(8)} ${String(g.batch).padStart(6)} ${g.tokensPerS.toFixed(1).padStart(11)} ${g.msPerCall.toFixed(1).padStart(11)} ${g.timeToFirstTokenMs.toFixed(1).padStart(15)}`);
    }
  }
  save();
}
save();
process.exit(0);

