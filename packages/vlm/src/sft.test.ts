import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CausalLM } from './causal-lm.js';
import { VlmError } from './errors.js';
import { sft } from './sft.js';
import { FIXTURES, maxAbsDiff, tfVariables, useTestBackend } from './__fixtures__/test-utils.js';
import { VLMWrapper } from './vlm-wrapper.js';

let scratch: string;
beforeAll(async () => {
  await useTestBackend();
  scratch = await mkdtemp(join(tmpdir(), 'vlm-sft-'));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

const PAIRS = [
  { prompt: 'a cat', completion: ' a cat sitting on a windowsill, golden hour, soft light' },
  { prompt: 'a dog', completion: ' a dog running on the beach, motion blur, vibrant colors' },
  { prompt: 'a castle', completion: ' a medieval castle on a hill, fantasy illustration, epic clouds' },
  { prompt: 'an owl', completion: ' an owl perched on a branch, wildlife photography, bokeh background' },
];

function weightsOf(model: CausalLM): Float32Array[] {
  return tfVariables(model).map((v) => v.dataSync() as Float32Array);
}

describe('sft', () => {
  it('learns the reference rewrites: loss falls and greedy enhancement reproduces them', async () => {
    const wrapper = await VLMWrapper.fromPretrained(join(FIXTURES, 'tiny-llama'), { backend: null });
    const before = tf.memory().numTensors;
    const result = await sft(wrapper, PAIRS, { epochs: 50, batchSize: 4, learningRate: 3e-2, warmupSteps: 5, weightDecay: 0 });
    expect(tf.memory().numTensors).toBe(before);
    expect(result.steps).toBe(50);
    expect(result.history[0]!.loss).toBeGreaterThan(5);
    expect(result.finalLoss).toBeLessThan(0.1);
    const results = await wrapper.enhancePromptsDetailed(PAIRS.map((pair) => pair.prompt), { repetitionPenalty: 1 });
    expect(results.map((r) => r.text)).toEqual(PAIRS.map((pair) => pair.completion.trim()));
    expect(results.every((r) => r.source === 'model')).toBe(true);
    wrapper.dispose();
  });

  it('gradient accumulation (2 × 2) equals one batch of 4', async () => {
    const a = await CausalLM.fromPretrained(join(FIXTURES, 'tiny-llama'), { backend: null });
    const b = a.clone();
    const pairs = [0, 1, 2, 3].map((i) => ({ promptIds: [5 + i, 17], completionIds: [99, 250 + i, 3 + (i % 2)] }));
    await sft(a, pairs, { maxSteps: 1, batchSize: 4, learningRate: 1e-3 });
    await sft(b, pairs, { maxSteps: 1, batchSize: 2, gradientAccumulationSteps: 2, learningRate: 1e-3 });
    const wa = weightsOf(a);
    const wb = weightsOf(b);
    wa.forEach((values, i) => expect(maxAbsDiff(values, wb[i]!)).toBeLessThan(1e-6));
    a.dispose();
    b.dispose();
  });

  it('checkpoints and resumes to the same weights as an uninterrupted run', async () => {
    const pairs = [0, 1, 2, 3, 4, 5].map((i) => ({ promptIds: [5 + i], completionIds: [99 + i, 250, 3] }));
    const options = { maxSteps: 4, batchSize: 2, learningRate: 5e-3, warmupSteps: 1, seed: 3 };
    const tensorsBefore = tf.memory().numTensors;
    const straight = await CausalLM.fromPretrained(join(FIXTURES, 'tiny-qwen2'), { backend: null });
    const outputDir = join(scratch, 'run');
    await sft(straight, pairs, { ...options, outputDir, saveSteps: 2, saveTotalLimit: 2 });
    expect((await readdir(outputDir)).sort()).toEqual(['checkpoint-2', 'checkpoint-4']);
    const resumed = await CausalLM.fromPretrained(join(FIXTURES, 'tiny-qwen2'), { backend: null });
    const result = await sft(resumed, pairs, { ...options, resumeFrom: join(outputDir, 'checkpoint-2') });
    expect(result.steps).toBe(4);
    expect(result.history.map((log) => log.step)).toEqual([3, 4]);
    expect(tf.memory().numTensors).toBe(tensorsBefore + 2 * straight.weightSpecs().length);
    const ws = weightsOf(straight);
    weightsOf(resumed).forEach((values, i) => expect(maxAbsDiff(values, ws[i]!)).toBeLessThan(1e-6));
    const reloaded = await CausalLM.fromPretrained(join(outputDir, 'checkpoint-4'), { backend: null });
    weightsOf(reloaded).forEach((values, i) => expect(maxAbsDiff(values, ws[i]!)).toBe(0));
    tf.dispose([straight, resumed, reloaded].flatMap((m) => tfVariables(m)));
  });

  it('rejects text pairs without a tokenizer and bad options', async () => {
    const model = await CausalLM.fromPretrained(join(FIXTURES, 'tiny-gpt2'), { backend: null });
    const text = await sft(model, PAIRS).catch((e: unknown) => e);
    expect(VlmError.isInstance(text) && text.message).toMatch(/text pairs need a VLMWrapper/u);
    const bad = await sft(model, [{ promptIds: [1], completionIds: [2] }], { batchSize: 0 }).catch((e: unknown) => e);
    expect(VlmError.isInstance(bad) && bad.code).toBe('VLM_INVALID_ARGUMENT');
    const none = await sft(model, []).catch((e: unknown) => e);
    expect(VlmError.isInstance(none) && none.message).toMatch(/no training pairs/u);
    model.dispose();
  });
});
