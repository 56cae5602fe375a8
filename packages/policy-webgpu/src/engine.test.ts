/**
 * The engine against the golden Hugging Face references of @vlm-grpo/vlm's tiny fixtures (logits,
 * plain and left-padded; next-token log-probs) and against tfjs (`CausalLM`): gradients of
 * Σ g·logp on a ragged batch and an AdamW step with clipping.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { AdamW, CausalLM, clipByGlobalNorm, initBackend } from '@vlm-grpo/vlm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, device, random, relativeError } from './__fixtures__/gpu-test-utils.js';
import { WebGpuPolicyEngine } from './engine.js';

/** The fixtures of @vlm-grpo/vlm (the same in-repository files its own tests read). */
const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../vlm/src/__fixtures__');

interface Reference {
  input_ids: number[][];
  logits: Float32Array;
  left_padded: { input_ids: number[][]; attention_mask: number[][]; logits: Float32Array };
  next_token_logprobs: number[][];
}

function f32(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function loadReference(name: string): Reference {
  const dir = join(FIXTURES, name);
  const raw = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
  return {
    input_ids: raw.input_ids,
    logits: f32(join(dir, raw.logits.file)),
    left_padded: { ...raw.left_padded, logits: f32(join(dir, raw.left_padded.logits.file)) },
    next_token_logprobs: raw.next_token_logprobs,
  };
}

const maxAbs = (a: ArrayLike<number>, b: ArrayLike<number>, include: (i: number) => boolean = () => true) => {
  let worst = 0;
  for (let i = 0; i < a.length; i += 1) if (include(i)) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
};

// A ragged batch: prompts of 1–9 tokens, completions of 0–7 tokens (5 × 24 = 120 rows: two
// 64-row chunks in the column reductions of the bias and norm gradients).
const BATCH = {
  promptIds: [[5, 17, 99], [9], [1, 300, 301, 302, 7], [2, 3], [11, 12, 13, 14, 15, 16, 17, 18, 19]],
  completionIds: [[250, 3, 42, 7, 8], [120, 640, 11, 12, 13, 14, 15], [], [4], [20, 21, 22]],
};

for (const name of ['tiny-gpt2', 'tiny-llama', 'tiny-qwen2'] as const) {
  describeGpu(`WebGpuPolicyEngine ${name} vs transformers 5.17 and tfjs`, () => {
    const ref = loadReference(name);
    let engine: WebGpuPolicyEngine;
    let model: CausalLM;
    beforeAll(async () => {
      engine = await WebGpuPolicyEngine.fromPretrained(join(FIXTURES, name), { context: device(), adamW: { weightDecay: 0.01 } });
      await initBackend('wasm');
      model = await CausalLM.fromPretrained(join(FIXTURES, name), { backend: null });
    });
    afterAll(() => {
      engine?.dispose();
      model?.dispose();
    });

    it('logits [2, 8, 1000] equal the reference to 1e-4 (plain and left-padded)', async () => {
      const positions = ref.input_ids.map((row) => row.map((_, j) => j));
      const plain = await engine.logits(ref.input_ids, ref.input_ids.map((row) => row.map(() => 1)), positions);
      expect(maxAbs(plain, ref.logits)).toBeLessThan(1e-4);
      const lp = ref.left_padded;
      const padded = await engine.logits(lp.input_ids, lp.attention_mask, positions);
      const valid = (i: number) => lp.attention_mask[Math.floor(i / 8000)]![Math.floor(i / 1000) % 8] === 1;
      expect(maxAbs(padded, lp.logits, valid)).toBeLessThan(1e-4);
    });

    it('next-token log-probs equal the reference (logProbs of a one-token prompt)', async () => {
      const { logProbs } = await engine.logProbs({ promptIds: ref.input_ids.map((row) => row.slice(0, 1)), completionIds: ref.input_ids.map((row) => row.slice(1)) });
      logProbs.forEach((row, r) => expect(maxAbs(row, ref.next_token_logprobs[r]!)).toBeLessThan(1e-4));
    });

    it('ragged batch: log-probs and entropy at T = 0.7 equal tfjs', async () => {
      const { logProbs, entropy } = await engine.logProbs(BATCH, { temperature: 0.7, withEntropy: true });
      // vlm's public API types tensors structurally (TfTensor2D, TfVariable); they are tfjs tensors.
      const expected = model.sequenceLogProbs(BATCH.promptIds, BATCH.completionIds, { temperature: 0.7, withEntropy: true }) as { logProbs: tf.Tensor2D; entropy?: tf.Tensor2D };
      const [lp, ent] = [await expected.logProbs.array(), await expected.entropy!.array()];
      tf.dispose([expected.logProbs, expected.entropy!]);
      BATCH.completionIds.forEach((row, r) => {
        expect(logProbs[r]).toHaveLength(row.length);
        expect(maxAbs(logProbs[r]!, lp[r]!.slice(0, row.length))).toBeLessThan(1e-4);
        expect(maxAbs(entropy![r]!, ent[r]!.slice(0, row.length))).toBeLessThan(1e-4);
      });
    });

    it('gradients of Σ g·logp (accumulated over two backward calls) equal tfjs to 1e-4 relative; AdamW with clipping equals vlm AdamW', async () => {
      const g = BATCH.completionIds.map((row, r) => random(100 + r, row.length));
      await engine.zeroGrad();
      for (let k = 0; k < 2; k += 1) {
        await engine.forwardTrain(BATCH, { temperature: 0.9 });
        await engine.backward(g);
      }
      const got = await engine.getGradients();
      const width = Math.max(...BATCH.completionIds.map((row) => row.length));
      const padded = new Float32Array(BATCH.completionIds.length * width);
      g.forEach((row, r) => padded.set(row, r * width));
      const variables = model.trainableVariables() as tf.Variable[];
      const names = model.weightSpecs().map((s) => s.name);
      const gt = tf.tensor2d(padded, [BATCH.completionIds.length, width]);
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(model.sequenceLogProbs(BATCH.promptIds, BATCH.completionIds, { temperature: 0.9 }).logProbs as tf.Tensor2D, gt)) as tf.Scalar, variables);
      const expected = await Promise.all(variables.map((v) => grads[v.name]!.mul(2).data() as Promise<Float32Array>));
      tf.dispose([value, gt, ...Object.values(grads)]);
      names.forEach((n, i) => {
        const err = relativeError(got.get(n)!, expected[i]!);
        if (err > 1e-4) throw new Error(`gradient of ${n}: relative error ${err}`);
      });
      // AdamW: the engine's step against @vlm-grpo/vlm's (same gradients, clipping on).
      const before = await engine.getWeights();
      const { gradNorm } = await engine.optimizerStep({ learningRate: 1e-2, maxGradNorm: 0.5 });
      const ordered = names.map((n) => tf.tensor(got.get(n)!, before.get(n)!.shape));
      const reference = names.map((n) => tf.variable(tf.tensor(before.get(n)!.data, before.get(n)!.shape)));
      const clipped = await clipByGlobalNorm(ordered, 0.5);
      expect(Math.abs(gradNorm - clipped.norm) / clipped.norm).toBeLessThan(1e-5);
      const adam = new AdamW(reference, { weightDecay: 0.01 });
      adam.step(clipped.grads, 1e-2);
      const after = await engine.getWeights();
      for (let i = 0; i < names.length; i += 1) {
        const err = relativeError(after.get(names[i]!)!.data, (await reference[i]!.data()) as Float32Array);
        if (err > 1e-5) throw new Error(`AdamW ${names[i]}: relative error ${err}`);
      }
      expect((await engine.getGradients()).get(names[0]!)!.every((v) => v === 0)).toBe(true);
      tf.dispose([...ordered, ...reference, ...(clipped.grads as tf.Tensor[])]);
      adam.dispose();
    });
  });
}
