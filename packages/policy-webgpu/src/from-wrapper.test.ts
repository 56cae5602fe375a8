import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { VLMWrapper, initBackend } from '@vlm-grpo/vlm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, device } from './__fixtures__/gpu-test-utils.js';
import type { WebGpuPolicyEngine } from './engine.js';
import { createWebGpuPolicyEngine } from './from-wrapper.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../vlm/src/__fixtures__/tiny-gpt2');

describeGpu('createWebGpuPolicyEngine (the trainer integration point) on a VLMWrapper', () => {
  let wrapper: VLMWrapper;
  let engine: WebGpuPolicyEngine;
  beforeAll(async () => {
    await initBackend('wasm');
    wrapper = await VLMWrapper.fromPretrained(DIR, { backend: null });
    engine = await createWebGpuPolicyEngine(wrapper, { adamW: { weightDecay: 0 }, context: device() });
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

  it('sample copies the updated weights into the wrapper before generating', async () => {
    const options = { maxNewTokens: 4, temperature: 0, seed: 3 };
    const first = await engine.sample(['a cat'], options);
    expect(first.completionIds[0]!.length).toBeGreaterThan(0);
    await engine.forwardTrain({ promptIds: first.promptIds, completionIds: first.completionIds });
    await engine.backward([Float32Array.from(first.completionIds[0]!, () => 1)]);
    await engine.optimizerStep({ learningRate: 0.05 });
    await engine.sample(['a cat'], options);
    const weights = await engine.getWeights();
    const names = wrapper.parameterNames();
    const variables = wrapper.trainableVariables();
    const name = 'transformer.h.0.mlp.c_fc.weight';
    const copied = (await variables[names.indexOf(name)]!.data()) as Float32Array;
    expect(Array.from(copied)).toEqual(Array.from(weights.get(name)!.data));
    expect(tf.getBackend()).toBe('wasm');
  });
});
