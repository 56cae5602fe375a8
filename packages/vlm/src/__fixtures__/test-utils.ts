/**
 * Helpers shared by the tests (not exported from the package): fixture paths, golden files and the
 * test backend.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs';
import { initBackend } from '../backend.js';
import type { CausalLM } from '../causal-lm.js';
import type { TfjsPolicy } from '../policy.js';
import type { TfTensor } from '../tf-tensor.js';

/** Absolute path of `src/__fixtures__`. */
export const FIXTURES = dirname(fileURLToPath(import.meta.url));

/** The three tiny causal-LM fixtures. */
export const LM_FIXTURES = ['tiny-gpt2', 'tiny-llama', 'tiny-qwen2'] as const;

/** Golden outputs of one LM fixture (from transformers 5.17, float32, CPU). */
export interface LmReference {
  input_ids: number[][];
  logits: Float32Array;
  left_padded: { input_ids: number[][]; attention_mask: number[][]; logits: Float32Array };
  next_token_logprobs: number[][];
  greedy: { prompt: number[][]; max_new_tokens: number; output: number[][] };
}

function f32(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/** Load `reference.json` and its float32 files. */
export function loadReference(name: string): LmReference {
  const dir = join(FIXTURES, name);
  const raw = JSON.parse(readFileSync(join(dir, 'reference.json'), 'utf8'));
  return {
    input_ids: raw.input_ids,
    logits: f32(join(dir, raw.logits.file)),
    left_padded: { ...raw.left_padded, logits: f32(join(dir, raw.left_padded.logits.file)) },
    next_token_logprobs: raw.next_token_logprobs,
    greedy: raw.greedy,
  };
}

/** The backend the tests run on (wasm: initialises in vitest and is ≈25× the pure-JS backend). */
export async function useTestBackend(): Promise<void> {
  await initBackend(process.env.VLM_TEST_BACKEND === 'cpu' ? 'cpu' : 'wasm');
}

/** Largest absolute difference between two arrays over the selected indices. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>, include: (index: number) => boolean = () => true): number {
  let worst = 0;
  for (let i = 0; i < a.length; i += 1) if (include(i)) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

/*
 * The public API types tensors structurally (tf-tensor.ts); they are tfjs tensors. Tests that run
 * tfjs ops on them (sums, gradients, synchronous reads) view them as tfjs types through these.
 */

/** `model.forward(...)` as a `tf.Tensor3D`. */
export function tfForward(model: { forward: CausalLM['forward'] }, ...args: Parameters<CausalLM['forward']>): tf.Tensor3D {
  return model.forward(...args) as tf.Tensor3D;
}

/** `policy.sequenceLogProbs(...)` with tfjs tensors. */
export function tfSequenceLogProbs(
  policy: Pick<TfjsPolicy, 'sequenceLogProbs'>,
  ...args: Parameters<TfjsPolicy['sequenceLogProbs']>
): { logProbs: tf.Tensor2D; entropy?: tf.Tensor2D } {
  return policy.sequenceLogProbs(...args) as { logProbs: tf.Tensor2D; entropy?: tf.Tensor2D };
}

/** `policy.trainableVariables()` as `tf.Variable[]`. */
export function tfVariables(policy: Pick<TfjsPolicy, 'trainableVariables'>): tf.Variable[] {
  return policy.trainableVariables() as tf.Variable[];
}

/** Tensors of the public API (e.g. `clipByGlobalNorm`'s gradients) as `tf.Tensor[]`. */
export function tfTensors(tensors: readonly TfTensor[]): tf.Tensor[] {
  return tensors as tf.Tensor[];
}
