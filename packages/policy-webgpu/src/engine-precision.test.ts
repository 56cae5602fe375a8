/**
 * Mixed precision (`precision: 'f16'`) against the fp32 engine on the tiny GPT-2, Llama and Qwen2
 * fixtures of @vlm-grpo/vlm, same weights, same device:
 * - log-probs and entropies of a ragged batch (T = 0.7): |Δ| ≤ 1e-3 absolute (f16 rounding of
 *   weights and matmul inputs, ~2⁻¹¹ relative, through two blocks and a 1000-way softmax;
 *   measured ≤ 3.7e-4 on lavapipe);
 * - gradients of Σ g·logp (two accumulated backward calls): per tensor, max|Δ| ≤ 1e-2 · max|g_fp32|
 *   (measured ≤ 2.2e-3: the f16 gradient copies carry a per-tensor loss scale, kernels/f16-scale.ts);
 * - the f16 copy of the weights follows every weight change (optimizer step, syncFrom,
 *   setOptimizerState): log-probs equal, bit for bit, those of a new f16 engine on the new weights;
 * - 12 AdamW steps on the negative log-likelihood of one batch lower the loss as much as fp32
 *   (within 5 % of fp32's decrease, and the two curves within 0.05 nats at every step).
 * The f16 engine must really differ from fp32 (else these tests would compare fp32 with itself).
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, device, random } from './__fixtures__/gpu-test-utils.js';
import { WebGpuPolicyEngine } from './engine.js';
import { GpuContext } from './gpu.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../vlm/src/__fixtures__');

const BATCH = {
  promptIds: [[5, 17, 99], [9], [1, 300, 301, 302, 7], [2, 3], [11, 12, 13, 14, 15, 16, 17, 18, 19]],
  completionIds: [[250, 3, 42, 7, 8], [120, 640, 11, 12, 13, 14, 15], [], [4], [20, 21, 22]],
};
const G = BATCH.completionIds.map((row, r) => random(100 + r, row.length));

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let worst = 0;
  for (let i = 0; i < a.length; i += 1) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
};
const maxAbs = (a: ArrayLike<number>): number => {
  let worst = 0;
  for (let i = 0; i < a.length; i += 1) worst = Math.max(worst, Math.abs(a[i]!));
  return worst;
};

async function gradients(engine: WebGpuPolicyEngine): Promise<Map<string, Float32Array>> {
  await engine.zeroGrad();
  for (let k = 0; k < 2; k += 1) {
    await engine.forwardTrain(BATCH, { temperature: 0.9 });
    await engine.backward(G);
  }
  const grads = await engine.getGradients();
  await engine.zeroGrad();
  return grads;
}

for (const name of ['tiny-gpt2', 'tiny-llama', 'tiny-qwen2'] as const) {
  describeGpu(`precision 'f16' vs 'fp32' (${name})`, () => {
    let fp32: WebGpuPolicyEngine;
    let f16: WebGpuPolicyEngine;
    beforeAll(async () => {
      fp32 = await WebGpuPolicyEngine.fromPretrained(join(FIXTURES, name), { context: device() });
      f16 = await WebGpuPolicyEngine.fromPretrained(join(FIXTURES, name), { context: device(), precision: 'f16' });
    });
    afterAll(() => {
      fp32?.dispose();
      f16?.dispose();
    });

    it('log-probs and entropy of a ragged batch (T = 0.7) within 1e-3 of fp32, and not equal to them', async () => {
      const a = await fp32.logProbs(BATCH, { temperature: 0.7, withEntropy: true });
      const b = await f16.logProbs(BATCH, { temperature: 0.7, withEntropy: true });
      const lp = Math.max(...a.logProbs.map((row, r) => maxAbsDiff(row, b.logProbs[r]!)));
      const ent = Math.max(...a.entropy!.map((row, r) => maxAbsDiff(row, b.entropy![r]!)));
      console.log(`[f16 ${name}] log-prob max |Δ| ${lp.toExponential(2)}, entropy ${ent.toExponential(2)}`);
      expect(lp).toBeLessThan(1e-3);
      expect(ent).toBeLessThan(1e-3);
      expect(lp).toBeGreaterThan(0); // the f16 path ran
    });

    it('gradients of Σ g·logp within 1e-2 of max|g| per tensor', async () => {
      const [a, b] = [await gradients(fp32), await gradients(f16)];
      let worst = 0;
      let at = '';
      for (const [tensor, g] of a) {
        const scale = maxAbs(g);
        if (scale === 0) continue;
        const err = maxAbsDiff(g, b.get(tensor)!) / scale;
        if (err > worst) [worst, at] = [err, tensor];
      }
      console.log(`[f16 ${name}] gradient worst relative ${worst.toExponential(2)} (${at})`);
      expect(worst).toBeLessThan(1e-2);
      expect(worst).toBeGreaterThan(0);
    });
  });
}

describeGpu("precision 'f16': the f16 weight copy follows every weight change (tiny GPT-2)", () => {
  const dir = join(FIXTURES, 'tiny-gpt2');
  const fresh = async (engine: WebGpuPolicyEngine) => {
    const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
    return WebGpuPolicyEngine.fromWeights(raw, await engine.getWeights(), { context: device(), precision: 'f16' });
  };
  const same = async (engine: WebGpuPolicyEngine, label: string) => {
    const other = await fresh(engine);
    const [x, y] = [await engine.logProbs(BATCH), await other.logProbs(BATCH)];
    other.dispose();
    x.logProbs.forEach((row, r) => expect(Array.from(row), `${label}, row ${r}`).toEqual(Array.from(y.logProbs[r]!)));
  };

  it('after an optimizer step, syncFrom and setOptimizerState, log-probs equal a new engine on the same weights, bit for bit', async () => {
    const engine = await WebGpuPolicyEngine.fromPretrained(dir, { context: device(), precision: 'f16' });
    const before = await engine.logProbs(BATCH);
    await engine.forwardTrain(BATCH);
    await engine.backward(G);
    await engine.optimizerStep({ learningRate: 5e-2 });
    const after = await engine.logProbs(BATCH);
    expect(maxAbsDiff(after.logProbs[0]!, before.logProbs[0]!)).toBeGreaterThan(1e-3); // the step changed them
    await same(engine, 'after optimizerStep');

    const ref = await WebGpuPolicyEngine.fromPretrained(dir, { context: device(), precision: 'f16' });
    await ref.logProbs(BATCH); // its f16 copy is current before the sync
    await ref.syncFrom(engine, 0.5);
    await same(ref, 'after syncFrom');
    await ref.setOptimizerState(await engine.getOptimizerState());
    await same(ref, 'after setOptimizerState');
    const copy = await engine.clone();
    expect(copy.precision).toBe('f16');
    await same(copy, 'a clone');
    [engine, ref, copy].forEach((e) => e.dispose());
  });
});

describeGpu("precision 'f16' trains like fp32 (tiny GPT-2 and Llama)", () => {
  for (const name of ['tiny-gpt2', 'tiny-llama'] as const) {
    it(`${name}: 12 AdamW steps on one batch lower the negative log-likelihood as much as fp32`, async () => {
      const curves: number[][] = [];
      for (const precision of ['fp32', 'f16'] as const) {
        const engine = await WebGpuPolicyEngine.fromPretrained(join(FIXTURES, name), { context: device(), precision, adamW: { weightDecay: 0.01 } });
        const curve: number[] = [];
        for (let step = 0; step < 12; step += 1) {
          const { logProbs } = await engine.forwardTrain(BATCH);
          curve.push(-logProbs.reduce((sum, row) => sum + row.reduce((a, b) => a + b, 0), 0) / 16);
          await engine.backward(logProbs.map((row) => row.map(() => -1 / 16)));
          await engine.optimizerStep({ learningRate: 1e-2, maxGradNorm: 1 });
        }
        curves.push(curve);
        engine.dispose();
      }
      const [a, b] = curves as [number[], number[]];
      console.log(`[f16 ${name}] NLL fp32: ${a.map((x) => x.toFixed(3)).join(' ')}`);
      console.log(`[f16 ${name}] NLL f16:  ${b.map((x) => x.toFixed(3)).join(' ')}`);
      const [dropA, dropB] = [a[0]! - a[11]!, b[0]! - b[11]!];
      expect(dropA).toBeGreaterThan(1);
      expect(Math.abs(dropB - dropA)).toBeLessThan(0.05 * dropA);
      expect(maxAbsDiff(a, b)).toBeLessThan(0.05);
    }, 120_000);
  }
});

describeGpu("precision 'f16': the engine reports its matmul kernel, and f16Matmul forces one (tiny Llama)", () => {
  it("fp32 reports 'fp32'; f16 reports the kernel 'auto' chose (with the reason where it is not the tensor-core one); 'plain' gives the same log-probs as an 'auto' that chose plain", async () => {
    const dir = join(FIXTURES, 'tiny-llama');
    const fp32 = await WebGpuPolicyEngine.fromPretrained(dir, { context: device() });
    const auto = await WebGpuPolicyEngine.fromPretrained(dir, { context: device(), precision: 'f16' });
    const plain = await WebGpuPolicyEngine.fromPretrained(dir, { context: device(), precision: 'f16', f16Matmul: 'plain' });
    try {
      expect([fp32.matmulKernel, fp32.matmulKernelNote]).toEqual(['fp32', null]);
      expect([plain.matmulKernel, plain.matmulKernelNote]).toEqual(['f16-plain', "f16Matmul: 'plain' asked for the plain kernel"]);
      console.log(`[f16 kernel] ${auto.matmulKernel}${auto.matmulKernelNote ? ` (${auto.matmulKernelNote})` : ''}`);
      if (auto.matmulKernel === 'f16-plain') {
        // a device without usable subgroup matrices (lavapipe): the note says why, and 'auto' runs the plain kernel
        expect(auto.matmulKernelNote).toMatch(/\S/u);
        const [a, b] = [await auto.logProbs(BATCH), await plain.logProbs(BATCH)];
        expect(a.logProbs).toEqual(b.logProbs);
        await expect(WebGpuPolicyEngine.fromPretrained(dir, { context: device(), precision: 'f16', f16Matmul: 'subgroup-matrix' })).rejects.toMatchObject({
          code: 'WEBGPU_UNSUPPORTED',
          message: expect.stringMatching(/subgroup-matrix kernel cannot run here/u),
        });
      } else {
        expect([auto.matmulKernel, auto.matmulKernelNote]).toEqual(['f16-subgroup-matrix', null]);
      }
      const copy = await plain.clone();
      expect(copy.matmulKernel).toBe('f16-plain');
      copy.dispose();
    } finally {
      fp32.dispose();
      auto.dispose();
      plain.dispose();
    }
  }, 60_000);
});

it("precision 'f16' on a device without shader-f16 fails at creation with WEBGPU_UNSUPPORTED; bad option values are named", async () => {
  const stub = new GpuContext({ features: new Set<string>(), limits: {} } as unknown as GPUDevice, 'stub adapter');
  await expect(WebGpuPolicyEngine.fromPretrained(join(FIXTURES, 'tiny-gpt2'), { context: stub, precision: 'f16' })).rejects.toMatchObject({
    code: 'WEBGPU_UNSUPPORTED',
    message: expect.stringMatching(/precision 'f16' needs the WebGPU feature shader-f16.*stub adapter.*use precision 'fp32'/u),
  });
  await expect(WebGpuPolicyEngine.fromPretrained(join(FIXTURES, 'tiny-gpt2'), { context: stub, precision: 'bf16' as never })).rejects.toThrow(/precision must be 'fp32' or 'f16', received "bf16"/u);
  await expect(WebGpuPolicyEngine.fromPretrained(join(FIXTURES, 'tiny-gpt2'), { context: stub, recompute: 'full' as never })).rejects.toThrow(/recompute must be 'none' or 'layer', received "full"/u);
  await expect(WebGpuPolicyEngine.fromPretrained(join(FIXTURES, 'tiny-gpt2'), { context: stub, f16Matmul: 'tensor' as never })).rejects.toThrow(/f16Matmul must be 'auto', 'plain' or 'subgroup-matrix', received "tensor"/u);
});
