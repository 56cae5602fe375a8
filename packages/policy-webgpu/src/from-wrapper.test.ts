import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { VLMWrapper, initBackend } from '@vlm-grpo/vlm';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { describeGpu, device } from './__fixtures__/gpu-test-utils.js';
import type { WebGpuPolicyEngine } from './engine.js';
import { PolicyWebGpuError } from './errors.js';
import { createWebGpuPolicyEngine } from './from-wrapper.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../vlm/src/__fixtures__/tiny-gpt2');
const WATCHED = 'transformer.h.0.mlp.c_fc.weight';

async function variable(wrapper: VLMWrapper, name: string): Promise<number[]> {
  return Array.from((await wrapper.trainableVariables()[wrapper.parameterNames().indexOf(name)]!.data()) as Float32Array);
}

describeGpu('createWebGpuPolicyEngine (the trainer integration point) on a VLMWrapper', () => {
  let wrapper: VLMWrapper;
  let engine: WebGpuPolicyEngine;
  const lines: string[] = [];
  beforeAll(async () => {
    await initBackend('wasm');
    wrapper = await VLMWrapper.fromPretrained(DIR, { backend: null });
    engine = await createWebGpuPolicyEngine(wrapper, { adamW: { weightDecay: 0 }, context: device(), logger: (line) => lines.push(line) });
  });
  afterAll(() => {
    engine?.dispose();
    wrapper?.dispose();
  });

  it('takes the wrapper weights: log-probs equal the wrapper’s', async () => {
    const batch = { promptIds: [[5, 17, 99]], completionIds: [[250, 3, 42]] };
    const { logProbs } = await engine.logProbs(batch);
    const expected = wrapper.sequenceLogProbs(batch.promptIds, batch.completionIds);
    const values = await expected.logProbs.data();
    expected.logProbs.dispose();
    expect(Math.max(...logProbs[0]!.map((v, i) => Math.abs(v - values[i]!)))).toBeLessThan(1e-4);
  });

  it('sample generates on the GPU with the wrapper’s text handling: greedy output equals the wrapper’s tfjs sample; after a step it uses the new weights and leaves the wrapper untouched', async () => {
    expect(lines[0]).toContain('sample generates on the GPU');
    const generate = vi.spyOn(engine, 'generate');
    const options = { maxNewTokens: 6, temperature: 0, numReturnSequences: 2, seed: 3 };
    const prompts = ['a cat', 'a red fox in the snow'];
    const [got, want] = [await engine.sample(prompts, options), await wrapper.sample(prompts, options)];
    expect(generate).toHaveBeenCalledTimes(1);
    expect(got.promptIds).toEqual(want.promptIds);
    expect(got.completionIds).toEqual(want.completionIds);
    expect(got.texts).toEqual(want.texts);
    expect(got.truncated).toEqual(want.truncated);
    got.completionLogProbs.forEach((row, r) => row.forEach((v, j) => expect(Math.abs(v - want.completionLogProbs[r]![j]!)).toBeLessThan(1e-4)));

    const before = await variable(wrapper, WATCHED);
    await engine.forwardTrain({ promptIds: got.promptIds, completionIds: got.completionIds });
    await engine.backward(got.completionIds.map((row) => Float32Array.from(row, () => 1)));
    await engine.optimizerStep({ learningRate: 0.05 });
    const after = await engine.sample(prompts, options);
    expect(await variable(wrapper, WATCHED)).toEqual(before); // nothing copied into the wrapper
    const own = await engine.logProbs({ promptIds: after.promptIds, completionIds: after.completionIds });
    after.completionLogProbs.forEach((row, r) => row.forEach((v, j) => expect(Math.abs(v - own.logProbs[r]![j]!)).toBeLessThan(1e-4)));
    expect(tf.getBackend()).toBe('wasm');
    generate.mockRestore();
  });

  it('a prompt cut to the context on the GPU path is counted by the wrapper', async () => {
    const count = wrapper.truncatedPrompts;
    await engine.sample([Array.from({ length: 40 }, () => 'a red cat').join(' ')], { maxNewTokens: 4, temperature: 0 });
    expect(wrapper.truncatedPrompts).toBe(count + 1);
  });
});

describeGpu('createWebGpuPolicyEngine: the tfjs generation (option, and fallback when the GPU path reports WEBGPU_UNSUPPORTED)', () => {
  let wrapper: VLMWrapper;
  const engines: WebGpuPolicyEngine[] = [];
  beforeAll(async () => {
    await initBackend('wasm');
    wrapper = await VLMWrapper.fromPretrained(DIR, { backend: null });
  });
  afterAll(() => {
    engines.forEach((e) => e.dispose());
    wrapper?.dispose();
  });

  /** One optimizer step that changes the weights. */
  async function step(engine: WebGpuPolicyEngine): Promise<void> {
    await engine.forwardTrain({ promptIds: [[5, 17, 99]], completionIds: [[250, 3, 42]] });
    await engine.backward([Float32Array.of(1, 1, 1)]);
    await engine.optimizerStep({ learningRate: 0.05 });
  }

  it("generation: 'tfjs' samples with the wrapper after copying the updated weights into it, and says so once", async () => {
    const lines: string[] = [];
    const engine = await createWebGpuPolicyEngine(wrapper, { adamW: { weightDecay: 0 }, context: device(), generation: 'tfjs', logger: (line) => lines.push(line) });
    engines.push(engine);
    const generate = vi.spyOn(engine, 'generate');
    await step(engine);
    const options = { maxNewTokens: 4, temperature: 0, seed: 3 };
    await engine.sample(['a cat'], options);
    await engine.sample(['a cat'], options);
    expect(generate).not.toHaveBeenCalled();
    expect(await variable(wrapper, WATCHED)).toEqual(Array.from((await engine.getWeights()).get(WATCHED)!.data));
    expect(lines.filter((line) => line.includes("sample generates with tfjs (generation: 'tfjs')"))).toHaveLength(1);
  });

  it("precision 'f16' and recompute 'layer' reach the engine (its log line says so); log-probs stay within the f16 tolerance of the wrapper's", async () => {
    const lines: string[] = [];
    const engine = await createWebGpuPolicyEngine(wrapper, { adamW: {}, context: device(), precision: 'f16', recompute: 'layer', logger: (line) => lines.push(line) });
    engines.push(engine);
    expect([engine.precision, engine.recompute]).toEqual(['f16', 'layer']);
    expect(lines[0]).toContain('precision f16, recompute layer');
    const batch = { promptIds: [[5, 17, 99]], completionIds: [[250, 3, 42]] };
    const { logProbs } = await engine.logProbs(batch);
    const expected = wrapper.sequenceLogProbs(batch.promptIds, batch.completionIds);
    const values = await expected.logProbs.data();
    expected.logProbs.dispose();
    expect(Math.max(...logProbs[0]!.map((v, i) => Math.abs(v - values[i]!)))).toBeLessThan(1e-3);
  });

  it('WEBGPU_UNSUPPORTED from generate falls back to the wrapper’s tfjs generation with the current weights, and logs why once', async () => {
    const lines: string[] = [];
    const engine = await createWebGpuPolicyEngine(wrapper, { adamW: { weightDecay: 0 }, context: device(), logger: (line) => lines.push(line) });
    engines.push(engine);
    vi.spyOn(engine, 'generate').mockRejectedValue(new PolicyWebGpuError('WEBGPU_UNSUPPORTED', 'buffer gen.k.0 needs too many bytes'));
    await step(engine);
    const options = { maxNewTokens: 4, temperature: 0, seed: 3 };
    const got = await engine.sample(['a cat'], options);
    await engine.sample(['a cat'], options);
    expect(got.completionIds[0]!.length).toBeGreaterThan(0);
    expect(await variable(wrapper, WATCHED)).toEqual(Array.from((await engine.getWeights()).get(WATCHED)!.data));
    expect(lines.filter((line) => line.includes('GPU generation cannot run this batch (buffer gen.k.0 needs too many bytes)'))).toHaveLength(1);
  });
});
