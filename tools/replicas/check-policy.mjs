#!/usr/bin/env node
/**
 * A policy replica at any size, through our engines, against transformers' golden outputs
 * (`make-replicas.py --references` writes reference.json and ref_logits.f32 at real size; the tiny
 * fixtures always have them). For the real sizes on a CPU machine (tfjs on WASM, the fused engine
 * on lavapipe) and on a GPU.
 *
 *   node tools/replicas/check-policy.mjs <folder> [--engine tfjs|webgpu] [--backend wasm|cpu|webgpu]
 *     [--tolerance 1e-4] [--json out.json]
 *
 * - `tfjs` (default): @vlm-grpo/vlm's `CausalLM` on the tfjs backend `--backend` (default wasm):
 *   the float32 logits of the last positions of each reference prompt (max |Δ| against
 *   transformers) and greedy decoding token for token.
 * - `webgpu`: @vlm-grpo/policy-webgpu's `WebGpuPolicyEngine.fromPretrained` on any WebGPU adapter
 *   (lavapipe included): the log-probabilities of each prompt's last 15 tokens (`logProbs`, the
 *   GRPO boundary) against log_softmax of transformers' logits, and `generate` greedy token for
 *   token.
 * Prints one line per prompt and a verdict; exits 1 when a difference exceeds `--tolerance` or a
 * greedy token differs. Needs the packages built.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    engine: { type: 'string', default: 'tfjs' },
    backend: { type: 'string', default: 'wasm' },
    tolerance: { type: 'string', default: '1e-4' },
    json: { type: 'string' },
  },
});
if (positionals.length !== 1 || !['tfjs', 'webgpu'].includes(values.engine)) {
  console.error('usage: node tools/replicas/check-policy.mjs <folder> [--engine tfjs|webgpu] [--backend wasm|cpu|webgpu] [--tolerance 1e-4] [--json out.json]');
  process.exit(2);
}
const dir = resolve(positionals[0]);
const tolerance = Number(values.tolerance);
let reference;
try {
  reference = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
} catch (error) {
  console.error(`${join(dir, 'reference.json')}: ${error.message} (make it with tools/replicas/make-replicas.py --references)`);
  process.exit(2);
}
const golden = new Float32Array(readFileSync(join(dir, 'ref_logits.f32')).buffer.slice(0));

/** Golden logits of prompt i: [positions][vocab] rows, as a Float32Array and its shape. */
function goldenOf(i) {
  let offset = 0;
  for (let k = 0; k < i; k++) offset += reference.logits_shapes[k][0] * reference.logits_shapes[k][1];
  const [positions, vocab] = reference.logits_shapes[i];
  return { logits: golden.subarray(offset, offset + positions * vocab), positions, vocab };
}

/** log_softmax(row)[token] in float64. */
function logSoftmaxAt(row, token) {
  let max = -Infinity;
  for (const x of row) max = Math.max(max, x);
  let sum = 0;
  for (const x of row) sum += Math.exp(x - max);
  return row[token] - max - Math.log(sum);
}

const rows = [];
const started = performance.now();
if (values.engine === 'tfjs') {
  const { CausalLM, initBackend } = await import('@vlm-grpo/vlm');
  await initBackend(values.backend);
  const t0 = performance.now();
  const model = await CausalLM.fromPretrained(dir);
  const loadSeconds = (performance.now() - t0) / 1000;
  try {
    for (let i = 0; i < reference.input_ids.length; i++) {
      const ids = reference.input_ids[i];
      const { logits: want, positions, vocab } = goldenOf(i);
      const t1 = performance.now();
      const logits = model.forward([ids]);
      const all = await logits.data();
      logits.dispose();
      const forwardSeconds = (performance.now() - t1) / 1000;
      const got = all.subarray(all.length - positions * vocab);
      let maxDiff = 0;
      for (let k = 0; k < want.length; k++) maxDiff = Math.max(maxDiff, Math.abs(got[k] - want[k]));
      const t2 = performance.now();
      const generated = await model.generate([ids], { maxNewTokens: reference.greedy_new_tokens[i].length, temperature: 0 });
      const greedy = generated.sequences[0].slice(ids.length);
      rows.push({ prompt: i, tokens: ids.length, compared: `logits of the last ${positions} positions × ${vocab}`, maxAbsDiff: maxDiff, greedy, greedyExpected: reference.greedy_new_tokens[i], forwardSeconds, generateSeconds: (performance.now() - t2) / 1000 });
    }
  } finally {
    model.dispose();
  }
  rows.loadSeconds = loadSeconds;
} else {
  const { WebGpuPolicyEngine, createPolicyDevice } = await import('@vlm-grpo/policy-webgpu');
  const context = await createPolicyDevice({ allowSoftware: true });
  const t0 = performance.now();
  const engine = await WebGpuPolicyEngine.fromPretrained(dir, { context });
  rows.loadSeconds = (performance.now() - t0) / 1000;
  try {
    for (let i = 0; i < reference.input_ids.length; i++) {
      const ids = reference.input_ids[i];
      const { logits: want, positions, vocab } = goldenOf(i);
      // Golden row p (of the last `positions`) predicts token (len − positions + p + 1): the last
      // positions − 1 tokens are the completion whose log-probs the engine returns.
      const k = ids.length - (positions - 1);
      const t1 = performance.now();
      const result = await engine.logProbs({ promptIds: [ids.slice(0, k)], completionIds: [ids.slice(k)] });
      const forwardSeconds = (performance.now() - t1) / 1000;
      let maxDiff = 0;
      for (let p = 0; p < positions - 1; p++) {
        const expected = logSoftmaxAt(want.subarray(p * vocab, (p + 1) * vocab), ids[k + p]);
        maxDiff = Math.max(maxDiff, Math.abs(result.logProbs[0][p] - expected));
      }
      const t2 = performance.now();
      const generated = await engine.generate([ids], { maxNewTokens: reference.greedy_new_tokens[i].length, eosTokenIds: [] });
      rows.push({ prompt: i, tokens: ids.length, compared: `log-probs of the last ${positions - 1} tokens`, maxAbsDiff: maxDiff, greedy: generated.completionIds[0], greedyExpected: reference.greedy_new_tokens[i], forwardSeconds, generateSeconds: (performance.now() - t2) / 1000 });
    }
  } finally {
    engine.dispose();
  }
}

let ok = true;
for (const row of rows) {
  const greedyOk = JSON.stringify(row.greedy) === JSON.stringify(row.greedyExpected);
  ok &&= row.maxAbsDiff <= tolerance && greedyOk;
  console.log(
    `prompt ${row.prompt} (${row.tokens} tokens): ${row.compared}: max |Δ| ${row.maxAbsDiff.toExponential(2)}; greedy ${greedyOk ? 'equal' : `DIFFERS (${row.greedy} vs ${row.greedyExpected})`}; forward ${row.forwardSeconds.toFixed(2)} s, generate ${row.generateSeconds.toFixed(2)} s`,
  );
}
const verdict = `${dir} on ${values.engine}${values.engine === 'tfjs' ? ` (${values.backend})` : ''}: ${ok ? 'matches' : 'DOES NOT MATCH'} transformers (tolerance ${tolerance}); loaded in ${rows.loadSeconds.toFixed(1)} s, ${((performance.now() - started) / 1000).toFixed(1)} s in all`;
console.log(verdict);
if (values.json) writeFileSync(values.json, `${JSON.stringify({ folder: dir, engine: values.engine, backend: values.backend, tolerance, ok, loadSeconds: rows.loadSeconds, rows: [...rows] }, null, 2)}\n`);
process.exit(ok ? 0 : 1);
