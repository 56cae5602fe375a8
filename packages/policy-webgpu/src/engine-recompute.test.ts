/**
 * Activation recomputation (`recompute: 'layer'`) against `'none'` on the tiny GPT-2, Llama and
 * Qwen2 fixtures, in fp32 and f16, same device: the same kernels in the same order on the same
 * inputs, so log-probs, entropies, accumulated gradients, the gradient norm, the weights after an
 * AdamW step and the log-probs after it must be equal bit for bit. And the memory it saves: the
 * activation bytes `planMemory` measures on a real plan equal plan-memory.ts's closed form for
 * every option pair, and 'layer' (and 'f16') allocate less than 'none' (and 'fp32').
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, device, random } from './__fixtures__/gpu-test-utils.js';
import { WebGpuPolicyEngine } from './engine.js';
import type { EnginePrecision, EngineRecompute } from './model-types.js';
import { estimatePlanMemory } from './plan-memory.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../vlm/src/__fixtures__');

const BATCH = {
  promptIds: [[5, 17, 99], [9], [1, 300, 301, 302, 7], [2, 3], [11, 12, 13, 14, 15, 16, 17, 18, 19]],
  completionIds: [[250, 3, 42, 7, 8], [120, 640, 11, 12, 13, 14, 15], [], [4], [20, 21, 22]],
};
const G = BATCH.completionIds.map((row, r) => random(200 + r, row.length));

/** The bytes of a float array (bit-for-bit comparison, NaN and −0 included). */
const bits = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Everything the comparison reads from one engine, in order. */
async function trace(engine: WebGpuPolicyEngine): Promise<Array<[string, Float32Array]>> {
  const out: Array<[string, Float32Array]> = [];
  const first = await engine.logProbs(BATCH, { temperature: 0.7, withEntropy: true });
  first.logProbs.forEach((row, r) => out.push([`logProbs[${r}]`, row]));
  first.entropy!.forEach((row, r) => out.push([`entropy[${r}]`, row]));
  for (let k = 0; k < 2; k += 1) {
    await engine.forwardTrain(BATCH, { temperature: 0.9 });
    await engine.backward(G);
  }
  for (const [name, g] of await engine.getGradients()) out.push([`gradient ${name}`, g]);
  const { gradNorm } = await engine.optimizerStep({ learningRate: 1e-2, maxGradNorm: 0.5 });
  out.push(['gradNorm', Float32Array.of(gradNorm)]);
  for (const [name, w] of await engine.getWeights()) out.push([`weight after the step ${name}`, w.data]);
  (await engine.logProbs(BATCH)).logProbs.forEach((row, r) => out.push([`logProbs after the step[${r}]`, row]));
  return out;
}

for (const name of ['tiny-gpt2', 'tiny-llama', 'tiny-qwen2'] as const) {
  for (const precision of ['fp32', 'f16'] as const) {
    describeGpu(`recompute 'layer' vs 'none' (${name}, ${precision})`, () => {
      const engines = new Map<EngineRecompute, WebGpuPolicyEngine>();
      beforeAll(async () => {
        for (const recompute of ['none', 'layer'] as const) {
          engines.set(recompute, await WebGpuPolicyEngine.fromPretrained(join(FIXTURES, name), { context: device(), precision, recompute, adamW: { weightDecay: 0.01 } }));
        }
      });
      afterAll(() => engines.forEach((e) => e.dispose()));

      it('log-probs, entropies, accumulated gradients, gradient norm, weights and log-probs after an AdamW step: bit-identical', async () => {
        const [a, b] = [await trace(engines.get('none')!), await trace(engines.get('layer')!)];
        expect(b.map(([label]) => label)).toEqual(a.map(([label]) => label));
        const differ = a.filter(([, x], i) => !bits(x).equals(bits(b[i]![1]))).map(([label]) => label);
        expect(differ).toEqual([]);
        // not vacuous: the step moved the weights, and the gradients are not all zero
        expect(a.some(([label, x]) => label.startsWith('gradient') && x.some((v) => v !== 0))).toBe(true);
      });
    });
  }
}

describeGpu('plan memory: measured on the plan = plan-memory.ts; recomputation and f16 allocate less', () => {
  const shape = { sequences: 5, promptTokens: 9, completionTokens: 7 };
  for (const name of ['tiny-gpt2', 'tiny-llama'] as const) {
    it(`${name}, ${shape.sequences} sequences of 16 + 8 positions`, async () => {
      const measured = new Map<string, number>();
      for (const precision of ['fp32', 'f16'] as const satisfies readonly EnginePrecision[]) {
        for (const recompute of ['none', 'layer'] as const) {
          const engine = await WebGpuPolicyEngine.fromPretrained(join(FIXTURES, name), { context: device(), precision, recompute });
          const got = engine.planMemory(shape);
          expect(got, `${precision}/${recompute}`).toEqual(estimatePlanMemory(engine.config, shape, { precision, recompute }));
          expect(got.total).toBe(got.activations + got.backward + got.inputs);
          measured.set(`${precision}/${recompute}`, got.activations);
          engine.dispose();
        }
      }
      console.log(`[memory ${name}] activation bytes: ${[...measured].map(([k, v]) => `${k} ${v}`).join(', ')}`);
      expect(measured.get('fp32/layer')!).toBeLessThan(measured.get('fp32/none')!);
      expect(measured.get('f16/layer')!).toBeLessThan(measured.get('f16/none')!);
      expect(measured.get('f16/none')!).toBeLessThan(measured.get('fp32/none')!);
    });
  }
  it('planMemory names a bad shape', async () => {
    const engine = await WebGpuPolicyEngine.fromPretrained(join(FIXTURES, 'tiny-gpt2'), { context: device() });
    expect(() => engine.planMemory({ sequences: 0, promptTokens: 1, completionTokens: 1 })).toThrow(/planMemory: need integers sequences ≥ 1/u);
    engine.dispose();
  });
});
