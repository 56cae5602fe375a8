/**
 * estimateWasmTrainingBytes against the WASM heap a real training loop reaches: a 10.2M-parameter
 * Llama with SmolLM2's 49,152-token vocabulary (2 layers, 192 wide) trains 4 GRPO-shaped updates
 * (forwardTrain + backward + AdamW, 6 sequences × 42 prompt + 42 completion tokens) beside a
 * reference model on tfjs-backend-wasm; the heap (`HEAP8.buffer.byteLength`, which never shrinks)
 * must stay under the estimate and reach at least 75 % of it (an estimate far above the heap
 * would move policies off WASM that fit). Its own file: a fresh WASM module, whose heap no other
 * test has grown.
 */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { CausalLM } from './causal-lm.js';
import type { TfjsPolicy } from './policy.js';
import { TfjsPolicyEngine } from './tfjs-policy-engine.js';
import { estimateWasmTrainingBytes } from './wasm-memory.js';

const RAW = {
  model_type: 'llama',
  architectures: ['LlamaForCausalLM'],
  hidden_size: 192,
  intermediate_size: 512,
  num_hidden_layers: 2,
  num_attention_heads: 6,
  num_key_value_heads: 3,
  vocab_size: 49152,
  max_position_embeddings: 256,
  rms_norm_eps: 1e-5,
  rope_theta: 100000,
  tie_word_embeddings: true,
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
};

/** The model as the engine's policy port (training only: no sampling here). */
const asPolicy = (model: CausalLM): TfjsPolicy => ({
  sample: () => Promise.reject(new Error('wasm-memory-measured.test: sampling is not part of this test')),
  sequenceLogProbs: (promptIds, completionIds, options) => model.sequenceLogProbs(promptIds, completionIds, options),
  trainableVariables: () => model.trainableVariables(),
  clone: () => Promise.resolve(asPolicy(model.clone())),
  dispose: () => model.dispose(),
});

it('the WASM heap of 4 updates with a reference model stays under estimateWasmTrainingBytes and reaches 75 % of it', async () => {
  expect((await initBackend('wasm')).backend).toBe('wasm');
  const heap = (): number => (tf.backend() as unknown as { wasm: { HEAP8: Int8Array } }).wasm.HEAP8.buffer.byteLength;
  const policy = CausalLM.fromConfig({ ...RAW }, { seed: 0 });
  const engine = new TfjsPolicyEngine(asPolicy(policy));
  const reference = new TfjsPolicyEngine(asPolicy(policy.clone()));
  try {
    const params = policy.trainableVariables().reduce((n, v) => n + v.size, 0);
    const rows = (seed: number): number[][] => Array.from({ length: 6 }, (_, r) => Array.from({ length: 42 }, (_, i) => ((r * 131 + i * 17 + seed) % 49000) + 10));
    const batch = { promptIds: rows(1), completionIds: rows(7) };
    const grads = batch.completionIds.map((row) => Float32Array.from(row, () => 0.01));
    for (let step = 0; step < 4; step += 1) {
      await reference.logProbs(batch);
      await engine.forwardTrain(batch);
      await engine.backward(grads);
      await engine.optimizerStep({ learningRate: 1e-5, maxGradNorm: 1 });
    }
    const estimate = estimateWasmTrainingBytes(params, { reference: true, sequences: 6, completionTokens: 42, vocabSize: 49152 });
    const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
    console.log(`[wasm heap] ${(params / 1e6).toFixed(1)}M parameters: heap ${mib(heap())}, estimate ${mib(estimate)}`);
    expect(heap()).toBeLessThanOrEqual(estimate);
    expect(heap()).toBeGreaterThanOrEqual(0.75 * estimate);
  } finally {
    engine.dispose();
    reference.dispose();
  }
}, 120_000);
