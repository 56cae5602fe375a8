/**
 * The WebGPU path (tfjs-backend-webgpu on Dawn through the `webgpu` package) against the same
 * golden values as the CPU tests, plus one training step and the asynchronous state read that GRPO
 * checkpoints need. Skipped where no WebGPU adapter initialises, except in CI (`CI` set), where
 * .ci/run installs Mesa's lavapipe and a missing adapter fails the file; for speed, run on a GPU
 * machine with tools/device (see BENCHMARKS.md).
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { CausalLM } from './causal-lm.js';
import { AdamW, clipByGlobalNorm } from './optim.js';
import { FIXTURES, loadReference, maxAbsDiff, tfForward, tfSequenceLogProbs, tfTensors, tfVariables } from './__fixtures__/test-utils.js';

const webgpu = await initBackend('webgpu').then(
  () => ({ ok: true, reason: '' }),
  (error: unknown) => ({ ok: false, reason: (error as Error).message }),
);

// CI installs Mesa's lavapipe (.ci/run): there a missing adapter fails this file instead of skipping it.
it.runIf(!webgpu.ok && Boolean(process.env.CI))('a WebGPU adapter initialises (required in CI: .ci/run installs lavapipe, VK_DRIVER_FILES)', () => {
  throw new Error(`no WebGPU adapter although CI is set: ${webgpu.reason}`);
});

describe.skipIf(!webgpu.ok)('WebGPU backend (tiny GPT-2 vs transformers 5.17)', () => {
  const ref = loadReference('tiny-gpt2');
  let model: CausalLM;
  beforeAll(async () => {
    expect(tf.getBackend()).toBe('webgpu');
    model = await CausalLM.fromPretrained(join(FIXTURES, 'tiny-gpt2'), { backend: null });
  });
  afterAll(() => model?.dispose());

  it('logits [2, 8, 1000] match the reference to 1e-4', async () => {
    const logits = tfForward(model, ref.input_ids);
    expect(maxAbsDiff(await logits.data(), ref.logits)).toBeLessThan(1e-4);
    logits.dispose();
  });

  it('greedy generation with the KV cache equals step-by-step argmax of full forwards', async () => {
    const prompt = [ref.input_ids[0]!.slice(0, 4)];
    const out = await model.generate(prompt, { maxNewTokens: 6, eosTokenIds: [] });
    const ids = [...prompt[0]!];
    for (let step = 0; step < 6; step += 1) {
      const logits = tfForward(model, [ids]);
      const last = tf.tidy(() => logits.slice([0, ids.length - 1, 0], [1, 1, -1]).reshape([-1]).argMax());
      ids.push((await last.data())[0]!);
      tf.dispose([logits, last]);
    }
    expect(out.completionIds[0]).toEqual(ids.slice(4));
  });

  it('trains: a step lowers the loss, and the optimizer state reads back asynchronously', async () => {
    const variables = tfVariables(model);
    const optimizer = new AdamW(variables, { weightDecay: 0 });
    const prompts = [[5, 17, 99], [9, 120, 640]];
    const completions = [[250, 3, 42, 7], [11, 12, 13, 14]];
    const lossOf = () => tfSequenceLogProbs(model, prompts, completions).logProbs.sum().neg() as tf.Scalar;
    const losses: number[] = [];
    for (let i = 0; i < 3; i += 1) {
      const { value, grads } = tf.variableGrads(lossOf, variables);
      const list = variables.map((v) => grads[v.name]!);
      const clipped = await clipByGlobalNorm(list, 1);
      optimizer.step(clipped.grads, 1e-2);
      losses.push((await value.data())[0]!);
      tf.dispose([value, ...list, ...tfTensors(clipped.grads)]);
    }
    expect(losses[2]!).toBeLessThan(losses[0]!);
    const state = await optimizer.getState();
    expect(state.step).toBe(3);
    expect(state.m).toHaveLength(variables.length);
    expect(state.m.every((entry) => entry.data.every(Number.isFinite))).toBe(true);
    optimizer.dispose();
  });
});
