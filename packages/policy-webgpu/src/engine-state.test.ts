/**
 * The port's state contract on the tiny GPT-2: exact resume through get/setOptimizerState, clone
 * and syncFrom, the non-finite-norm skip, and clear errors for misuse and bad input.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, device } from './__fixtures__/gpu-test-utils.js';
import { WebGpuPolicyEngine } from './engine.js';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../../vlm/src/__fixtures__/tiny-gpt2');
const BATCH = { promptIds: [[5, 17], [9, 9, 120]], completionIds: [[99, 250, 3], [640, 11]] };
const G = [Float32Array.of(1, -0.5, 0.25), Float32Array.of(-1, 2)];

async function trainStep(engine: WebGpuPolicyEngine, lr = 1e-2): Promise<number> {
  await engine.forwardTrain(BATCH);
  await engine.backward(G);
  return (await engine.optimizerStep({ learningRate: lr, maxGradNorm: 1 })).gradNorm;
}

describeGpu('WebGpuPolicyEngine state contract (tiny GPT-2)', () => {
  let engine: WebGpuPolicyEngine;
  beforeAll(async () => {
    engine = await WebGpuPolicyEngine.fromPretrained(DIR, { context: device(), adamW: { weightDecay: 0.1 } });
  });
  afterAll(() => engine?.dispose());

  it('resume is bit-identical: state after step 1 restored into a fresh engine gives the same step 2', async () => {
    const a = await WebGpuPolicyEngine.fromPretrained(DIR, { context: device(), adamW: { weightDecay: 0.1 } });
    const b = await WebGpuPolicyEngine.fromPretrained(DIR, { context: device(), adamW: { weightDecay: 0.1 } });
    await trainStep(a);
    const saved = await a.getOptimizerState();
    expect(saved.step).toBe(1);
    await b.setOptimizerState(saved);
    await trainStep(a);
    await trainStep(b);
    const [sa, sb] = [await a.getOptimizerState(), await b.getOptimizerState()];
    expect(sb.step).toBe(2);
    for (const name of Object.keys(sa.parameters)) {
      expect(Buffer.from(sb.parameters[name]!.weights.buffer).equals(Buffer.from(sa.parameters[name]!.weights.buffer))).toBe(true);
      expect(Buffer.from(sb.parameters[name]!.v!.buffer).equals(Buffer.from(sa.parameters[name]!.v!.buffer))).toBe(true);
    }
    a.dispose();
    b.dispose();
  });

  it('setOptimizerState checks names and shapes first and changes nothing on a mismatch', async () => {
    const state = await engine.getOptimizerState();
    const before = await engine.logProbs(BATCH);
    const bad = { ...state, parameters: { ...state.parameters } };
    delete bad.parameters['transformer.wpe.weight'];
    await expect(engine.setOptimizerState(bad)).rejects.toThrow(/missing transformer\.wpe\.weight/u);
    const misshaped = { ...state, parameters: { ...state.parameters, 'transformer.ln_f.bias': { shape: [3], weights: new Float32Array(3) } } };
    await expect(engine.setOptimizerState(misshaped)).rejects.toThrow(/transformer\.ln_f\.bias: expected shape \[32\]/u);
    expect((await engine.logProbs(BATCH)).logProbs).toEqual(before.logProbs);
  });

  it('clone is independent; syncFrom(α) mixes weights, from a WebGPU engine or by name from the state', async () => {
    const ref = await engine.clone();
    const policyBefore = await engine.getWeights();
    await trainStep(engine);
    const policy = await engine.getWeights();
    const cloneWeights = await ref.getWeights();
    expect(cloneWeights.get('transformer.h.0.attn.c_attn.weight')!.data).toEqual(policyBefore.get('transformer.h.0.attn.c_attn.weight')!.data);
    await ref.syncFrom(engine, 0.25);
    const mixed = await ref.getWeights();
    const name = 'transformer.h.1.mlp.c_fc.weight';
    const expected = policy.get(name)!.data.map((p, i) => Math.fround(0.25 * p + 0.75 * policyBefore.get(name)!.data[i]!));
    expect(Math.max(...mixed.get(name)!.data.map((v, i) => Math.abs(v - expected[i]!)))).toBeLessThan(1e-6);
    // by name (any PolicyEngine): α = 1 copies
    const proxy = { getOptimizerState: () => engine.getOptimizerState() } as unknown as WebGpuPolicyEngine;
    await ref.syncFrom(Object.setPrototypeOf(proxy, Object.prototype), 1);
    expect((await ref.getWeights()).get(name)!.data).toEqual(policy.get(name)!.data);
    await expect(ref.sample(['a cat'])).rejects.toThrow(/no sampler/u);
    ref.dispose();
  });

  it('a non-finite gradient norm skips the update and zeroes the gradients', async () => {
    const before = await engine.getOptimizerState();
    await engine.forwardTrain(BATCH);
    await engine.backward([Float32Array.of(NaN, 0, 0), Float32Array.of(0, 0)]);
    const { gradNorm } = await engine.optimizerStep({ learningRate: 1e-2 });
    expect(Number.isNaN(gradNorm)).toBe(true);
    const after = await engine.getOptimizerState();
    expect(after.step).toBe(before.step);
    expect(after.parameters['transformer.wte.weight']!.weights).toEqual(before.parameters['transformer.wte.weight']!.weights);
    expect((await engine.getGradients()).get('transformer.wte.weight')!.every((v) => v === 0)).toBe(true);
  });

  it('misuse and bad input fail with messages naming the problem', async () => {
    await engine.logProbs(BATCH);
    await expect(engine.backward(G)).rejects.toThrow(/call forwardTrain first/u);
    await engine.forwardTrain(BATCH);
    await expect(engine.backward([G[0]!])).rejects.toThrow(/1 gradient rows for a batch of 2/u);
    await expect(engine.backward([G[0]!, Float32Array.of(1)])).rejects.toThrow(/gradient row 1 has 1 values, completion 1 2 tokens/u);
    await expect(engine.logProbs({ promptIds: [[5]], completionIds: [[1000]] })).rejects.toThrow(/completion 0 token 0 = 1000 is outside \[0, 1000\)/u);
    await expect(engine.logProbs({ promptIds: [[]], completionIds: [[1]] })).rejects.toThrow(/prompt 0 is empty/u);
    await expect(engine.logProbs(BATCH, { temperature: 0 })).rejects.toThrow(/temperature must be > 0/u);
    await expect(engine.logProbs({ promptIds: [[5]], completionIds: [new Array(64).fill(3)] })).rejects.toThrow(/65 tokens exceed GPT-2's 64 positions/u);
    await expect(engine.sample(['a cat'])).rejects.toThrow(/no sampler was given/u);
  });

  it('fromWeights names missing and mis-shaped tensors', async () => {
    const weights = await engine.getWeights();
    weights.delete('transformer.h.1.ln_2.bias');
    weights.set('transformer.wpe.weight', { shape: [63, 32], data: new Float32Array(63 * 32) });
    const raw = JSON.parse(readFileSync(join(DIR, 'config.json'), 'utf8'));
    await expect(WebGpuPolicyEngine.fromWeights(raw, weights, { context: device() }, 'my-model')).rejects.toThrow(
      /^my-model: missing or mis-shaped tensors: transformer\.wpe\.weight \(expected \[64, 32\]\), transformer\.h\.1\.ln_2\.bias \(expected \[32\]\)$/u,
    );
  });

  it('batches of one bucket reuse one plan and give identical values', async () => {
    const one = await engine.logProbs({ promptIds: [[5, 17]], completionIds: [[99, 250, 3]] });
    const again = await engine.logProbs({ promptIds: [[5, 17]], completionIds: [[99, 250, 3]] });
    expect(again.logProbs).toEqual(one.logProbs);
    // the same row inside a batch with other lengths (another bucket): same values up to fp32 noise
    const inBatch = await engine.logProbs({ promptIds: [[5, 17], [1, 2, 3, 4, 5, 6, 7, 8, 9]], completionIds: [[99, 250, 3], new Array(12).fill(4)] });
    expect(Math.max(...inBatch.logProbs[0]!.map((v, i) => Math.abs(v - one.logProbs[0]![i]!)))).toBeLessThan(1e-5);
  });
});
