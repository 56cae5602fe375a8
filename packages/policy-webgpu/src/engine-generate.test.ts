/**
 * GPU generation (`WebGpuPolicyEngine.generate`: KV-cache prefill and decode, on-GPU sampler)
 * against @vlm-grpo/vlm's tfjs `CausalLM.generate` on the tiny fixtures: greedy token for token
 * (left-padded prompts of different lengths, several sequences per prompt, repetition penalty and
 * n-gram ban, stop strings, GPT-2's position limit), and sampled runs whose reported log-probs
 * equal the model's own (tfjs `sequenceLogProbs` and the engine's `logProbs`). The decode step's
 * projections and vocabulary head run through kernels/matvec.ts up to 32 sequences and through
 * kernels/matmul.ts above: both are checked against tfjs.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs';
import { CausalLM, initBackend } from '@vlm-grpo/vlm';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeGpu, device } from './__fixtures__/gpu-test-utils.js';
import { WebGpuPolicyEngine } from './engine.js';
import type { GenerationPlan } from './generation-plan.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '../../vlm/src/__fixtures__');

// Prompts of 3, 1 and 9 tokens: left-padded to 16 slots in one batch.
const PROMPTS = [[5, 17, 99], [9], [1, 300, 301, 302, 7, 8, 9, 10, 11]];
const EOS = { eosTokenIds: [2] };

/** The decode dispatches that multiply by a weight matrix (the 4 projections of each block and the head). */
const PRODUCTS = /^decode\.(c_attn|attn\.c_proj|c_fc|mlp\.c_proj|qkv_proj|o_proj|gate_up_proj|down_proj|lm_head)(\.|$)/u;

const maxAbs = (a: readonly number[], b: readonly number[]) => a.reduce((w, v, i) => Math.max(w, Math.abs(v - b[i]!)), 0);

for (const name of ['tiny-gpt2', 'tiny-llama', 'tiny-qwen2'] as const) {
  describeGpu(`WebGpuPolicyEngine.generate ${name} vs tfjs CausalLM.generate`, () => {
    let engine: WebGpuPolicyEngine;
    let model: CausalLM;
    beforeAll(async () => {
      engine = await WebGpuPolicyEngine.fromPretrained(join(FIXTURES, name), { context: device() });
      await initBackend('wasm');
      model = await CausalLM.fromPretrained(join(FIXTURES, name), { backend: null });
    });
    afterAll(() => {
      engine?.dispose();
      model?.dispose();
    });

    it('greedy: the same tokens, log-probs and finish reasons (ragged left-padded prompts, 2 sequences per prompt)', async () => {
      const options = { maxNewTokens: 12, numReturnSequences: 2, ...EOS };
      const [got, want] = [await engine.generate(PROMPTS, options), await model.generate(PROMPTS, options)];
      expect(got.completionIds).toEqual(want.completionIds);
      expect(got.promptIds).toEqual(want.promptIds);
      expect(got.sequences).toEqual(want.sequences);
      expect(got.finishReasons).toEqual(want.finishReasons);
      got.completionLogProbs.forEach((row, r) => expect(maxAbs(row, want.completionLogProbs[r]!)).toBeLessThan(1e-4));
      expect(got.completionIds.every((row) => row.length > 0)).toBe(true);
      // EOS: a token the greedy rows produce ends them (finish reason 'eos', the EOS kept).
      const eos = { ...options, eosTokenIds: [want.completionIds[0]![2]!] };
      const [gotEos, wantEos] = [await engine.generate(PROMPTS, eos), await model.generate(PROMPTS, eos)];
      expect(gotEos.completionIds).toEqual(wantEos.completionIds);
      expect(gotEos.finishReasons).toEqual(wantEos.finishReasons);
      expect(gotEos.finishReasons).toContain('eos');
    });

    it('greedy with repetition penalty 1.5 and no-repeat-n-gram 2, and a stop string: the same as tfjs', async () => {
      const decode = (ids: number[]) => ids.map((id) => String.fromCharCode(97 + (id % 26))).join('');
      const options = { maxNewTokens: 16, repetitionPenalty: 1.5, noRepeatNgramSize: 2, stopStrings: ['q'], decode, ...EOS };
      const [got, want] = [await engine.generate(PROMPTS, options), await model.generate(PROMPTS, options)];
      expect(got.completionIds).toEqual(want.completionIds);
      expect(got.finishReasons).toEqual(want.finishReasons);
      got.completionLogProbs.forEach((row, r) => expect(maxAbs(row, want.completionLogProbs[r]!)).toBeLessThan(1e-4));
    });

    it('sampling (T = 0.8, top-k 40, top-p 0.9): seeded, and each reported log-prob is log-softmax(logits / T) of the model (tfjs and the engine agree)', async () => {
      const options = { maxNewTokens: 10, doSample: true, temperature: 0.8, topK: 40, topP: 0.9, numReturnSequences: 3, seed: 17, ...EOS };
      const a = await engine.generate(PROMPTS, options);
      const b = await engine.generate(PROMPTS, options);
      const c = await engine.generate(PROMPTS, { ...options, seed: 18 });
      expect(b.completionIds).toEqual(a.completionIds);
      expect(c.completionIds).not.toEqual(a.completionIds);
      const rows = a.completionIds.map((row, r) => ({ prompt: a.promptIds[r]!, completion: row })).filter((x) => x.completion.length > 0);
      const reference = model.sequenceLogProbs(rows.map((x) => x.prompt), rows.map((x) => x.completion), { temperature: 0.8 }) as { logProbs: tf.Tensor2D };
      const expected = await reference.logProbs.array();
      reference.logProbs.dispose();
      const own = await engine.logProbs({ promptIds: rows.map((x) => x.prompt), completionIds: rows.map((x) => x.completion) }, { temperature: 0.8 });
      let r = 0;
      a.completionIds.forEach((row, i) => {
        if (row.length === 0) return;
        expect(maxAbs(a.completionLogProbs[i]!, expected[r]!.slice(0, row.length))).toBeLessThan(1e-4);
        expect(maxAbs(a.completionLogProbs[i]!, Array.from(own.logProbs[r]!))).toBeLessThan(1e-4);
        r += 1;
      });
    });

    it('decode products: kernels/matvec.ts for N = 6 sequences, matmul.ts for N = 33; greedy at N = 33 is the same as tfjs', async () => {
      const options = { maxNewTokens: 6, numReturnSequences: 11, ...EOS }; // N = 3 · 11 = 33
      const [got, want] = [await engine.generate(PROMPTS, options), await model.generate(PROMPTS, options)];
      expect(got.completionIds).toEqual(want.completionIds);
      expect(got.finishReasons).toEqual(want.finishReasons);
      got.completionLogProbs.forEach((row, r) => expect(maxAbs(row, want.completionLogProbs[r]!)).toBeLessThan(1e-4));
      await engine.generate(PROMPTS, { ...options, numReturnSequences: 2 }); // N = 6
      const plans = [...(engine as unknown as { generationPlans: Map<string, GenerationPlan> }).generationPlans.values()];
      const kernels = (n: number) =>
        plans.find((plan) => plan.sequences === n)!.decode.flatMap((c) => (c.kind === 'dispatch' && PRODUCTS.test(c.label) ? [c.pipeline.label.split('.')[0]] : []));
      // 2 layers × 4 products + the vocabulary head
      expect(kernels(6)).toEqual(Array(9).fill('matvec'));
      expect(kernels(33)).toEqual(Array(9).fill('matmul'));
    });

    if (name === 'tiny-llama') {
      it('concurrent calls (sharing one plan) give what sequential calls give', async () => {
        const greedy = { maxNewTokens: 8, ...EOS };
        const sampled = { ...greedy, doSample: true, seed: 4 };
        const sequential = [await engine.generate(PROMPTS, greedy), await engine.generate(PROMPTS, sampled)];
        const concurrent = await Promise.all([engine.generate(PROMPTS, greedy), engine.generate(PROMPTS, sampled)]);
        expect(concurrent.map((out) => out.completionIds)).toEqual(sequential.map((out) => out.completionIds));
      });
    }

    if (name === 'tiny-gpt2') {
      it('GPT-2: new tokens are limited by n_positions (64) as in tfjs; a prompt that fills the context generates nothing', async () => {
        const long = [Array.from({ length: 60 }, (_, i) => 10 + i)];
        const [got, want] = [await engine.generate(long, { maxNewTokens: 10, ...EOS }), await model.generate(long, { maxNewTokens: 10, ...EOS })];
        expect(got.completionIds).toEqual(want.completionIds);
        expect(got.completionIds[0]!.length).toBeLessThanOrEqual(4);
        const full = [Array.from({ length: 64 }, (_, i) => 10 + i)];
        expect((await engine.generate(full, { maxNewTokens: 5 })).completionIds).toEqual([[]]);
      });
    }
  });
}
