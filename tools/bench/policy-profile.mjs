/**
 * Where the time of one policy training step goes: forward only, forward + backward, gradient
 * clipping and AdamW timed separately (each awaited with a read-back), then `tf.profile` of one
 * whole step listing the kernels that took the most GPU time. With `--generate`, the same for one
 * `generate` call instead (sampling, `--batch` rows, `--completion` new tokens after `--prompt`).
 *
 *   node tools/bench/policy-profile.mjs [--backend webgpu] [--model gpt2-small|<folder>]
 *     [--batch 8] [--prompt 16] [--completion 112] [--top 15] [--flags '{"TFJS_FLAG": value}'] [--json out.json]
 *
 * Needs the built @vlm-grpo/vlm (`npx nx run @vlm-grpo/vlm:build`). Prints a table; `--json`
 * writes every number.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { AdamW, CausalLM, GPT2_SMALL_CONFIG, clipByGlobalNorm, initBackend } from '@vlm-grpo/vlm';

import { syntheticIds, timeMs, trainStep } from './bench-utils.mjs';

const { values } = parseArgs({
  options: {
    backend: { type: 'string', default: 'webgpu' },
    model: { type: 'string', default: 'gpt2-small' },
    batch: { type: 'string', default: '8' },
    prompt: { type: 'string', default: '16' },
    completion: { type: 'string', default: '112' },
    repeats: { type: 'string', default: '3' },
    top: { type: 'string', default: '15' },
    json: { type: 'string' },
    flags: { type: 'string' },
    generate: { type: 'boolean', default: false },
  },
});
const report = await initBackend(values.backend);
console.error(`# ${report.reason}`);
// tfjs environment flags to try, e.g. --flags '{"WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE":64}'
for (const [flag, value] of Object.entries(values.flags ? JSON.parse(values.flags) : {})) tf.env().set(flag, value);
const model =
  values.model === 'gpt2-small' ? CausalLM.fromConfig({ ...GPT2_SMALL_CONFIG }, { seed: 0 }) : await CausalLM.fromPretrained(values.model, { backend: null });
const [batch, promptLength, completionLength] = [values.batch, values.prompt, values.completion].map(Number);
const vocab = model.config.vocabSize;
const prompts = syntheticIds(batch, promptLength, vocab, 5);
const completions = syntheticIds(batch, completionLength, vocab, 11);
const variables = model.trainableVariables();
const optimizer = new AdamW(variables);
const lossOf = () => model.sequenceLogProbs(prompts, completions).logProbs.sum().neg().div(batch * completionLength);

const timed = (fn, repeats = Number(values.repeats)) => timeMs(fn, repeats);

if (values.generate) {
  const run = () => model.generate(prompts, { maxNewTokens: completionLength, doSample: true, seed: 1, eosTokenIds: [] });
  const wallMs = await timed(run);
  const profile = await tf.profile(run);
  const byName = new Map();
  for (const kernel of profile.kernels) {
    const entry = byName.get(kernel.name) ?? { name: kernel.name, calls: 0, gpuMs: 0 };
    entry.calls += 1;
    entry.gpuMs += typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : 0;
    byName.set(kernel.name, entry);
  }
  const list = [...byName.values()].sort((a, b) => b.calls - a.calls);
  const gpuMs = list.reduce((sum, k) => sum + k.gpuMs, 0);
  const result = { backend: report.backend, model: values.model, rows: batch, newTokens: completionLength, wallMs, ops: profile.kernels.length, gpuMs, kernels: list };
  if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
  console.log('| op | calls | GPU ms |');
  console.log('| --- | ---: | ---: |');
  for (const k of list.slice(0, Number(values.top))) console.log(`| ${k.name} | ${k.calls} | ${k.gpuMs.toFixed(2)} |`);
  console.log(`\n| generate ${batch} × ${completionLength} tokens, ${result.backend} | value |`);
  console.log('| --- | ---: |');
  console.log(`| wall ms | ${wallMs.toFixed(1)} |`);
  console.log(`| ops (per token) | ${result.ops} (${(result.ops / completionLength).toFixed(0)}) |`);
  console.log(`| GPU kernel ms | ${gpuMs.toFixed(1)} |`);
  process.exit(0);
}

const forwardMs = await timed(async () => {
  const loss = tf.tidy(lossOf);
  await loss.data();
  loss.dispose();
});
const backwardMs = await timed(async () => {
  const { value, grads } = tf.variableGrads(lossOf, variables);
  await value.data();
  tf.dispose([value, ...Object.values(grads)]);
});
const { value: v0, grads: g0 } = tf.variableGrads(lossOf, variables);
const ordered = variables.map((variable) => g0[variable.name]);
await v0.data();
const clipMs = await timed(async () => {
  const { grads } = await clipByGlobalNorm(ordered, 1);
  tf.dispose(grads);
});
const adamMs = await timed(async () => {
  optimizer.step(ordered, 1e-4);
  await variables[0].data();
});
tf.dispose([v0, ...ordered]);

const step = () => trainStep({ tf, clipByGlobalNorm, optimizer, variables, lossOf, learningRate: 1e-4 });
const stepMs = await timed(step);
const profile = await tf.profile(step);
const byKernel = new Map();
for (const kernel of profile.kernels) {
  const ms = typeof kernel.kernelTimeMs === 'number' ? kernel.kernelTimeMs : Number(kernel.kernelTimeMs?.error ? NaN : kernel.kernelTimeMs);
  const entry = byKernel.get(kernel.name) ?? { name: kernel.name, calls: 0, gpuMs: 0 };
  entry.calls += 1;
  entry.gpuMs += Number.isFinite(ms) ? ms : 0;
  byKernel.set(kernel.name, entry);
}
const kernels = [...byKernel.values()].sort((a, b) => b.gpuMs - a.gpuMs);
const kernelCalls = profile.kernels.length;
const gpuMs = kernels.reduce((sum, k) => sum + k.gpuMs, 0);

const result = {
  backend: report.backend,
  model: values.model,
  params: model.numParameters(),
  shape: `${batch}×${promptLength + completionLength}`,
  forwardMs,
  forwardBackwardMs: backwardMs,
  clipMs,
  adamMs,
  stepMs,
  kernelCalls,
  kernelGpuMsTotal: gpuMs,
  kernels,
};
if (values.json) writeFileSync(values.json, `${JSON.stringify(result, null, 2)}\n`);
console.log(`| kernel | calls | GPU ms (one step) |`);
console.log('| --- | ---: | ---: |');
for (const k of kernels.slice(0, Number(values.top))) console.log(`| ${k.name} | ${k.calls} | ${k.gpuMs.toFixed(2)} |`);
console.log(`\n| ${result.backend} ${result.model} (${result.params.toLocaleString('en')} params, ${result.shape}) | ms |`);
console.log('| --- | ---: |');
for (const key of ['forwardMs', 'forwardBackwardMs', 'clipMs', 'adamMs', 'stepMs', 'kernelGpuMsTotal']) console.log(`| ${key} | ${result[key].toFixed(1)} |`);
console.log(`| kernel launches per step | ${kernelCalls} |`);
