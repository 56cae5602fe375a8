/**
 * TfjsPolicyEngine on the tiny GPT-2 fixture: per-token values equal sequenceLogProbs' rows;
 * backward's parameter gradients equal central finite differences of Σ g·logp (forward recomputed);
 * gradients accumulate and are zeroed by the step; the step equals clip_grad_norm_ + AdamW applied
 * by hand and skips non-finite norms; state round trips bit for bit by Hugging Face name; clone and
 * syncFrom; no tensor leaks.
 */
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURES, tfSequenceLogProbs, tfTensors, tfVariables, useTestBackend } from './__fixtures__/test-utils.js';
import { AdamW, clipByGlobalNorm } from './optim.js';
import { TfjsPolicyEngine } from './tfjs-policy-engine.js';
import { VLMWrapper } from './vlm-wrapper.js';

const batch = { promptIds: [[5, 9, 11], [7], [3, 4]], completionIds: [[20, 31, 2], [40, 41, 42, 43, 2], []] };
const grads = [Float32Array.of(0.3, -0.2, 0.5), Float32Array.of(-0.4, 0.1, 0.25, -0.15, 0.6), new Float32Array(0)];
const load = () => VLMWrapper.fromPretrained(join(FIXTURES, 'tiny-gpt2'), { backend: null, promptFormat: 'plain', stopStrings: [] });

let engine: TfjsPolicyEngine;
beforeAll(async () => {
  await useTestBackend();
  engine = new TfjsPolicyEngine(await load(), { beta1: 0.8, beta2: 0.99, epsilon: 1e-6, weightDecay: 0.1 });
});
afterAll(() => engine?.dispose());

describe('TfjsPolicyEngine: forward', () => {
  it('returns the completion rows of sequenceLogProbs (ragged, padding dropped) and entropy', async () => {
    const out = await engine.logProbs(batch, { temperature: 0.7, withEntropy: true });
    const { logProbs, entropy } = tfSequenceLogProbs(engine.policy, batch.promptIds, batch.completionIds, { temperature: 0.7, withEntropy: true });
    const lp = (await logProbs.array()) as number[][];
    const ent = (await entropy!.array()) as number[][];
    tf.dispose([logProbs, entropy!]);
    expect(out.logProbs.map((row) => row.length)).toEqual([3, 5, 0]);
    out.logProbs.forEach((row, i) => expect(Array.from(row)).toEqual(lp[i]!.slice(0, row.length).map(Math.fround)));
    out.entropy!.forEach((row, i) => expect(Array.from(row)).toEqual(ent[i]!.slice(0, row.length).map(Math.fround)));
    expect(out.logProbs[1]!.every((x) => x < 0)).toBe(true);
    const train = await engine.forwardTrain(batch, { temperature: 0.7 });
    expect(train.logProbs).toEqual(out.logProbs);
    expect(train.entropy).toBeUndefined();
  });
});

describe('TfjsPolicyEngine: backward', () => {
  it('accumulates the gradient of Σ g·logp, equal to central finite differences', async () => {
    const policy = new TfjsPolicyEngine(await load());
    const T = 0.9;
    const objective = async (): Promise<number> => {
      const { logProbs } = await policy.logProbs(batch, { temperature: T });
      return logProbs.reduce((s, row, i) => s + row.reduce((a, x, t) => a + x * grads[i]![t]!, 0), 0);
    };
    await policy.forwardTrain(batch, { temperature: T });
    await policy.backward(grads);
    // read the accumulated gradients through the state of a step with lr 0, β1 = 0.9: m = 0.1·g
    const variables = tfVariables(policy.policy);
    const names = policy.parameterNames;
    const state0 = await policy.getOptimizerState();
    await policy.optimizerStep({ learningRate: 0 });
    const state = await policy.getOptimizerState();
    expect(state.step).toBe(1);
    const h = 1e-2;
    let maxErr = 0;
    let maxGrad = 0;
    // a few weights of different tensors: token embedding of a completion token, attention, MLP, final norm
    const picks: [string, number][] = [
      ['transformer.wte.weight', 31 * 32 + 3],
      ['transformer.h.0.attn.c_attn.weight', 17],
      ['transformer.h.1.mlp.c_fc.weight', 45],
      ['transformer.h.1.ln_2.weight', 7],
      ['transformer.ln_f.bias', 2],
    ];
    for (const [name, index] of picks) {
      const i = names.indexOf(name);
      expect(i, name).toBeGreaterThanOrEqual(0);
      const v = variables[i]!;
      const base = state0.parameters[name]!.weights;
      const at = async (delta: number): Promise<number> => {
        const x = Float32Array.from(base);
        x[index] = base[index]! + delta;
        v.assign(tf.tensor(x, v.shape));
        return objective();
      };
      const fd = ((await at(h)) - (await at(-h))) / (2 * h);
      v.assign(tf.tensor(base, v.shape));
      const analytic = state.parameters[name]!.m![index]! / 0.1;
      maxErr = Math.max(maxErr, Math.abs(fd - analytic));
      maxGrad = Math.max(maxGrad, Math.abs(analytic));
    }
    console.log(`[tfjs engine] backward vs FD: max error ${maxErr.toExponential(2)}, max |grad| ${maxGrad.toFixed(4)}`);
    expect(maxGrad).toBeGreaterThan(1e-2);
    expect(maxErr).toBeLessThan(2e-3);
    policy.dispose();
  });

  it('accumulates across backward calls; optimizerStep zeroes; zeroGrad drops', async () => {
    const policy = new TfjsPolicyEngine(await load());
    await policy.forwardTrain(batch);
    await policy.backward(grads);
    const once = await policy.clone();
    await policy.backward(grads);
    const twice = await policy.optimizerStep({ learningRate: 0 });
    await once.forwardTrain(batch);
    await once.backward(grads);
    const single = await once.optimizerStep({ learningRate: 0 });
    expect(twice.gradNorm).toBeCloseTo(2 * single.gradNorm, 4);
    expect((await policy.optimizerStep({ learningRate: 0 })).gradNorm).toBe(0); // zeroed by the step
    await policy.forwardTrain(batch);
    await policy.backward(grads);
    await policy.zeroGrad();
    expect((await policy.optimizerStep({ learningRate: 0 })).gradNorm).toBe(0);
    await expect(policy.backward([grads[0]!])).rejects.toThrowError(/1 gradient rows for a batch of 3/);
    once.dispose();
    policy.dispose();
  });
});

describe('TfjsPolicyEngine: optimizer step', () => {
  it('equals clip_grad_norm_ + AdamW applied by hand to the same gradients', async () => {
    const policy = new TfjsPolicyEngine(await load(), { weightDecay: 0.1 });
    const copy = await policy.policy.clone();
    const variables = tfVariables(copy);
    await policy.forwardTrain(batch);
    await policy.backward(grads);
    const { gradNorm } = await policy.optimizerStep({ learningRate: 0.05, maxGradNorm: 0.5 });
    const { grads: g } = tf.variableGrads(() => {
      const { logProbs } = tfSequenceLogProbs(copy, batch.promptIds, batch.completionIds);
      const w = tf.tensor2d([...grads[0]!, 0, 0, ...grads[1]!, 0, 0, 0, 0, 0], [3, 5]);
      return tf.sum(tf.mul(logProbs, w)) as tf.Scalar;
    }, variables);
    const clipped = await clipByGlobalNorm(variables.map((v) => g[v.name]!), 0.5);
    const adam = new AdamW(variables, { weightDecay: 0.1 });
    adam.step(clipped.grads, 0.05);
    expect(gradNorm).toBeCloseTo(clipped.norm, 5);
    expect(gradNorm).toBeGreaterThan(0.5); // clipping was active
    const after = await policy.getOptimizerState();
    const names = policy.parameterNames;
    let worst = 0;
    for (const [i, v] of variables.entries()) {
      const expected = (await v.data()) as Float32Array;
      const got = after.parameters[names[i]!]!.weights;
      for (let k = 0; k < got.length; k++) worst = Math.max(worst, Math.abs(got[k]! - expected[k]!));
    }
    expect(worst).toBeLessThan(1e-6);
    tf.dispose([...Object.values(g), ...tfTensors(clipped.grads)]);
    adam.dispose();
    copy.dispose();
    policy.dispose();
  });

  it('a non-finite gradient norm changes nothing and drops the gradients', async () => {
    const policy = new TfjsPolicyEngine(await load());
    const before = await policy.getOptimizerState();
    await policy.forwardTrain(batch);
    await policy.backward([Float32Array.of(Number.NaN, 0, 0), grads[1]!, grads[2]!]);
    const { gradNorm } = await policy.optimizerStep({ learningRate: 0.1, maxGradNorm: 1 });
    expect(Number.isNaN(gradNorm)).toBe(true);
    const after = await policy.getOptimizerState();
    expect(after.step).toBe(0);
    expect(after.parameters).toEqual(before.parameters);
    expect((await policy.optimizerStep({ learningRate: 0 })).gradNorm).toBe(0);
    policy.dispose();
  });
});

describe('TfjsPolicyEngine: state, clone, sync, memory', () => {
  it('round-trips weights and moments by Hugging Face name: a restored engine continues bit for bit', async () => {
    const a = new TfjsPolicyEngine(await load(), { weightDecay: 0.05 });
    const stepOnce = async (e: TfjsPolicyEngine): Promise<number> => {
      await e.forwardTrain(batch);
      await e.backward(grads);
      return (await e.optimizerStep({ learningRate: 0.01, maxGradNorm: 1 })).gradNorm;
    };
    await stepOnce(a);
    const saved = await a.getOptimizerState();
    expect(Object.keys(saved.parameters)[0]).toBe('transformer.wte.weight');
    const b = new TfjsPolicyEngine(await load(), { weightDecay: 0.05 });
    await b.setOptimizerState(saved);
    expect([await stepOnce(a), await stepOnce(b)].reduce((x, y) => x - y)).toBe(0);
    const sa = await a.getOptimizerState();
    const sb = await b.getOptimizerState();
    expect(sb.step).toBe(2);
    expect(sb.parameters).toEqual(sa.parameters);
    const bad = { ...saved, parameters: { ...saved.parameters, 'transformer.ln_f.bias': { shape: [3], weights: new Float32Array(3) } } };
    await expect(b.setOptimizerState(bad)).rejects.toThrowError(/parameter transformer.ln_f.bias: expected shape \[32\], got \[3\]/);
    const missing = { ...saved, parameters: Object.fromEntries(Object.entries(saved.parameters).slice(1)) };
    await expect(b.setOptimizerState(missing)).rejects.toThrowError(/missing transformer.wte.weight/);
    expect((await b.getOptimizerState()).parameters).toEqual(sb.parameters); // unchanged
    a.dispose();
    b.dispose();
  });

  it('clone is independent; syncFrom mixes ref ← α·π + (1−α)·ref', async () => {
    const policy = new TfjsPolicyEngine(await load());
    const ref = await policy.clone();
    await policy.forwardTrain(batch);
    await policy.backward(grads);
    await policy.optimizerStep({ learningRate: 0.05 });
    const pi = await policy.getOptimizerState();
    const r0 = await ref.getOptimizerState();
    expect(r0.step).toBe(0);
    expect(r0.parameters['transformer.ln_f.bias']!.weights).not.toEqual(pi.parameters['transformer.ln_f.bias']!.weights);
    await ref.syncFrom(policy, 0.25);
    const r1 = await ref.getOptimizerState();
    for (const name of ['transformer.wte.weight', 'transformer.ln_f.bias']) {
      const got = r1.parameters[name]!.weights;
      got.forEach((x, k) => expect(x).toBeCloseTo(0.25 * pi.parameters[name]!.weights[k]! + 0.75 * r0.parameters[name]!.weights[k]!, 6));
    }
    ref.dispose();
    policy.dispose();
  });

  it('keeps no tensors alive between steps', async () => {
    const policy = new TfjsPolicyEngine(await load());
    const step = async (): Promise<void> => {
      await policy.logProbs(batch, { withEntropy: true });
      await policy.forwardTrain(batch);
      await policy.backward(grads);
      await policy.backward(grads);
      await policy.optimizerStep({ learningRate: 0.01, maxGradNorm: 1 });
      await policy.getOptimizerState();
    };
    await step();
    const after1 = tf.memory().numTensors;
    await step();
    await step();
    expect(tf.memory().numTensors).toBe(after1);
    const before = tf.memory().numTensors;
    policy.dispose();
    expect(tf.memory().numTensors).toBeLessThan(before);
  });
});
