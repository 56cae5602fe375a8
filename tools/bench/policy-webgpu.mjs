#!/usr/bin/env node
/**
 * The fused WebGPU policy engine (@vlm-grpo/policy-webgpu) on real-sized models with random
 * weights: one GRPO training step (forwardTrain + backward + clip/AdamW) of B×T tokens, its
 * per-kernel GPU time from timestamp queries, and achieved TFLOP/s (6·params·tokens per step,
 * attention excluded). Models: GPT-2 small (vlm's GPT2_SMALL_CONFIG) and a SmolLM2-135M-sized
 * Llama (576 wide, 30 layers, 9 heads / 3 KV heads, MLP 1536, vocabulary 49,152, tied).
 * Generation is not measured: this version of the engine samples through tfjs (no KV-cache
 * decoding on the GPU yet).
 *
 * Build first (dist is what this imports): npx nx run @vlm-grpo/policy-webgpu:build
 * Usage: node tools/bench/policy-webgpu.mjs [--models gpt2,smollm2] [--batch 8] [--tokens 128]
 *        [--repeats 10] [--out policy-webgpu.json] [--tiny]   (--tiny: 2 layers, vocabulary 4,096: CPU smoke runs)
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { GPT2_SMALL_CONFIG, parseModelConfig, weightSpecs } from '@vlm-grpo/vlm';
import { WebGpuPolicyEngine, createPolicyDevice, createProfiler } from '@vlm-grpo/policy-webgpu';
import { median, syntheticIds } from './bench-utils.mjs';

const { values: args } = parseArgs({
  options: {
    models: { type: 'string', default: 'gpt2,smollm2' },
    batch: { type: 'string', default: '8' },
    tokens: { type: 'string', default: '128' },
    repeats: { type: 'string', default: '10' },
    out: { type: 'string' },
    tiny: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (args.help) {
  console.log('node tools/bench/policy-webgpu.mjs [--models gpt2,smollm2] [--batch 8] [--tokens 128] [--repeats 10] [--out file.json] [--tiny]');
  process.exit(0);
}

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

const context = await createPolicyDevice({ timestamps: true });
console.log(`device: ${context.adapterInfo}${context.hasTimestamps ? '' : ' (no timestamp-query: no per-kernel profile)'}`);
const batch = Number(args.batch);
const tokens = Number(args.tokens);
const repeats = Number(args.repeats);
const results = [];
for (const name of args.models.split(',')) {
  const base = CONFIGS[name];
  if (!base) throw new Error(`--models: unknown model "${name}" (gpt2, smollm2)`);
  const raw = args.tiny ? { ...base, vocab_size: 4096, ...(base.model_type === 'gpt2' ? { n_layer: 2 } : { num_hidden_layers: 2 }) } : base;
  const { config, weights } = randomWeights(raw);
  const params = [...weights.values()].reduce((n, w) => n + w.data.length, 0);
  const engine = await WebGpuPolicyEngine.fromWeights(raw, weights, { context, adamW: { weightDecay: 0.01 } });
  const half = tokens / 2;
  const ids = syntheticIds(batch, tokens, config.vocabSize, 1);
  const step = { promptIds: ids.map((row) => row.slice(0, half)), completionIds: ids.map((row) => row.slice(half)) };
  const grads = step.completionIds.map((row) => Float32Array.from(row, (_, t) => ((t % 7) - 3) / 100));
  const trainStep = async () => {
    await engine.forwardTrain(step);
    await engine.backward(grads);
    await engine.optimizerStep({ learningRate: 1e-5, maxGradNorm: 1 });
  };
  const forwardOnly = () => engine.logProbs(step);
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
    for (const [label, { ms, count }] of await profiler.collect()) {
      const entry = byFamily.get(family(label)) ?? { ms: 0, count: 0 };
      entry.ms += ms;
      entry.count += count;
      byFamily.set(family(label), entry);
    }
    profile = [...byFamily.entries()].map(([kernel, v]) => ({ kernel, ...v })).sort((a, b) => b.ms - a.ms);
    gpuMs = profile.reduce((s, p) => s + p.ms, 0);
    profiler.dispose();
  }
  const stepMs = median(stepTimes);
  const flop = 6 * params * batch * tokens;
  const result = {
    model: name + (args.tiny ? ' (tiny: 2 layers, vocabulary 4096)' : ''),
    params,
    batch,
    tokens,
    trainStepMs: stepMs,
    forwardMs: median(forwardTimes),
    gpuKernelMsPerStep: gpuMs,
    dispatchesPerStep: profile.reduce((s, p) => s + p.count, 0) || null,
    tflops: flop / (stepMs / 1000) / 1e12,
    profile,
  };
  results.push(result);
  engine.dispose();
  console.log(`\n${result.model}: ${(params / 1e6).toFixed(1)}M params, ${batch}×${tokens} tokens`);
  console.log(`  train step ${stepMs.toFixed(1)} ms (median of ${repeats}), forward ${result.forwardMs.toFixed(1)} ms, ${result.tflops.toFixed(2)} TFLOP/s (6·N·tokens)`);
  if (gpuMs !== null) {
    console.log(`  GPU time in kernels ${gpuMs.toFixed(1)} ms over ${result.dispatchesPerStep} dispatches (profiled step, one pass per dispatch)`);
    console.log('  kernel                          ms   count');
    for (const p of profile.slice(0, 20)) console.log(`  ${p.kernel.padEnd(28)} ${p.ms.toFixed(2).padStart(8)} ${String(p.count).padStart(6)}`);
  }
}
if (args.out) writeFileSync(args.out, `${JSON.stringify({ device: context.adapterInfo, date: new Date().toISOString(), results }, null, 2)}\n`);
process.exit(0);
