/**
 * Benchmark of @vlm-grpo/vlm: generated tokens/s (greedy, KV cache) at batch 1 and 16, and one
 * training step (sequenceLogProbs forward + backward + global-norm clip + AdamW) on 8 sequences, for
 * the tiny fixtures (or any model folders) on the requested backends; optionally a randomly
 * initialised GPT-2-small-sized model (124M parameters, 8×128 tokens).
 *
 *   npx nx run @vlm-grpo/vlm:bench -- [--backends wasm,cpu] [--models a,b] [--new-tokens 32]
 *     [--repeats 3] [--gpt2-small] [--out results.json]
 *
 * Timings are medians over `--repeats` runs after one warm-up run. Not a test: numbers depend on the
 * machine.
 */
import { writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendName } from '../backend.js';
import { CausalLM } from '../causal-lm.js';
import { GPT2_SMALL_CONFIG } from '../model-config.js';
import { AdamW, clipByGlobalNorm } from '../optim.js';

const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/__fixtures__');

interface Row {
  backend: string;
  model: string;
  params: number;
  genTokensPerSecB1: number | null;
  genTokensPerSecB16: number | null;
  trainStepMs: number;
  trainShape: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function timeIt(repeats: number, run: () => Promise<void>): Promise<number> {
  await run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i += 1) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return median(times);
}

function prompts(batch: number, length: number, vocab: number): number[][] {
  return Array.from({ length: batch }, (_, b) => Array.from({ length }, (_, t) => (b * 31 + t * 7 + 5) % vocab));
}

async function trainStep(model: CausalLM, optimizer: AdamW, batch: number, promptLength: number, completionLength: number): Promise<void> {
  const vocab = model.config.vocabSize;
  const p = prompts(batch, promptLength, vocab);
  const c = prompts(batch, completionLength, vocab).map((row) => row.map((token) => (token * 3 + 1) % vocab));
  // vlm's public API types tensors structurally (TfTensor, TfVariable): cast to run tfjs ops.
  const variables = model.trainableVariables() as tf.Variable[];
  const { value, grads } = tf.variableGrads(
    () => (model.sequenceLogProbs(p, c).logProbs as tf.Tensor2D).sum().neg().div(batch * completionLength) as tf.Scalar,
    variables,
  );
  const ordered = variables.map((variable) => grads[variable.name]!);
  const clipped = await clipByGlobalNorm(ordered, 1);
  optimizer.step(clipped.grads, 1e-4);
  await value.data();
  tf.dispose([value, ...ordered, ...(clipped.grads as tf.Tensor[])]);
}

async function benchModel(
  backend: string,
  name: string,
  model: CausalLM,
  options: { newTokens: number; repeats: number; generate: boolean; train: [number, number, number] },
): Promise<Row> {
  const vocab = model.config.vocabSize;
  const newTokens = Math.min(options.newTokens, model.config.maxPositions - 8);
  let b1: number | null = null;
  let b16: number | null = null;
  if (options.generate) {
    const gen = async (batch: number) => {
      await model.generate(prompts(batch, 8, vocab), { maxNewTokens: newTokens, eosTokenIds: [] });
    };
    b1 = (newTokens * 1000) / (await timeIt(options.repeats, () => gen(1)));
    b16 = (16 * newTokens * 1000) / (await timeIt(options.repeats, () => gen(16)));
  }
  const optimizer = new AdamW(model.trainableVariables());
  const [batch, promptLength, completionLength] = options.train;
  const ms = await timeIt(options.repeats, () => trainStep(model, optimizer, batch, promptLength, completionLength));
  optimizer.dispose();
  return {
    backend,
    model: name,
    params: model.numParameters(),
    genTokensPerSecB1: b1,
    genTokensPerSecB16: b16,
    trainStepMs: ms,
    trainShape: `${batch}×${promptLength + completionLength}`,
  };
}


async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backends: { type: 'string', default: 'wasm,cpu' },
      models: { type: 'string', default: ['tiny-gpt2', 'tiny-llama', 'tiny-qwen2'].map((m) => join(FIXTURES, m)).join(',') },
      'new-tokens': { type: 'string', default: '32' },
      repeats: { type: 'string', default: '3' },
      'gpt2-small': { type: 'boolean', default: false },
      out: { type: 'string' },
    },
  });
  const rows: Row[] = [];
  const newTokens = Number(values['new-tokens']);
  const repeats = Number(values.repeats);
  for (const backend of values.backends!.split(',') as BackendName[]) {
    const report = await initBackend(backend);
    console.error(`# ${report.reason}`);
    for (const path of values.models!.split(',')) {
      const model = await CausalLM.fromPretrained(path, { backend: null });
      rows.push(await benchModel(report.backend, path.split('/').pop()!, model, { newTokens, repeats, generate: true, train: [8, 8, 24] }));
      model.dispose();
      console.error(JSON.stringify(rows[rows.length - 1]));
    }
    if (values['gpt2-small']) {
      const model = CausalLM.fromConfig({ ...GPT2_SMALL_CONFIG }, { seed: 0 });
      rows.push(await benchModel(report.backend, 'gpt2-small-random', model, { newTokens, repeats: 1, generate: false, train: [8, 16, 112] }));
      model.dispose();
      console.error(JSON.stringify(rows[rows.length - 1]));
    }
  }
  const fmt = (value: number | null, digits = 0) => (value === null ? '–' : value.toFixed(digits));
  console.log('| backend | model | params | gen tok/s b=1 | gen tok/s b=16 | train step (fwd+bwd+AdamW) |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const row of rows) {
    console.log(
      `| ${row.backend} | ${row.model} | ${row.params.toLocaleString('en')} | ${fmt(row.genTokensPerSecB1)} | ${fmt(row.genTokensPerSecB16)} | ${fmt(row.trainStepMs, 1)} ms (${row.trainShape}) |`,
    );
  }
  if (values.out) await writeFile(values.out, `${JSON.stringify(rows, null, 2)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
