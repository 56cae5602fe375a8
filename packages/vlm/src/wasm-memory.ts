/**
 * The WASM backend's memory: its 4 GiB limit, what training a policy needs of it, and recognising
 * the abort that running out of it causes.
 *
 * - {@link estimateWasmTrainingBytes}: measured, not derived. SmolLM2-135M (134.5M parameters,
 *   0.50 GiB of fp32 weights) training 2 sequences × 84 tokens without a reference model grew the
 *   WASM heap to 3.84 GiB after its first backward while tfjs's tensors held 1.0 GiB: the rest is
 *   XNNPACK's packed copies of matmul operands (tfjs-backend-wasm caches one per operand tensor,
 *   the weights included) and allocator slack. The next forward could not allocate and aborted.
 *   Estimate: fp32 weight bytes × 8 (policy, gradients, AdamW's two moments, packed copies,
 *   activations of a small update), × 2 more for a reference model (its weights and their packed
 *   copies). It is a rule of thumb for refusing what cannot fit, not a bound.
 * - When tfjs's WASM backend aborts (Emscripten's `abort()`: a `WebAssembly.RuntimeError`
 *   "Aborted(…)", most often out of memory) the module cannot run again in this process: every
 *   later tfjs call fails the same way. Callers that loop (a trainer) should stop at the first
 *   one, with {@link describeBackendAbort}'s explanation, instead of counting it as one failed
 *   sample after another.
 */
import * as tf from '@tensorflow/tfjs';

/** Most memory the WASM backend's module can hold (wasm32, its build's maximum). */
export const WASM_MEMORY_LIMIT_BYTES = 4 * 1024 ** 3;

/** Options of {@link estimateWasmTrainingBytes}. */
export interface WasmTrainingEstimateOptions {
  /** A reference model is kept beside the policy (GRPO with beta ≠ 0) (default: true). */
  reference?: boolean;
}

/**
 * Rule-of-thumb WASM memory, in bytes, to train a policy of `numParameters` fp32 parameters with
 * AdamW on the tfjs WASM backend (see the file header: measured on SmolLM2-135M).
 */
export function estimateWasmTrainingBytes(numParameters: number, options: WasmTrainingEstimateOptions = {}): number {
  return numParameters * 4 * (8 + (options.reference === false ? 0 : 2));
}

/** True for an error thrown by an aborted WebAssembly module (Emscripten `abort()`, out of memory). */
export function isBackendAbort(error: unknown): boolean {
  // WebAssembly is a global of every Node.js, but not in this package's TypeScript libs.
  const runtimeError = (globalThis as unknown as { WebAssembly?: { RuntimeError?: abstract new () => Error } }).WebAssembly?.RuntimeError;
  if (runtimeError !== undefined && error instanceof runtimeError) return true;
  const message = error instanceof Error ? error.message : typeof error === 'string' ? error : '';
  return /^Aborted\(|Cannot enlarge memory|WebAssembly\.Memory\.grow\(\)/u.test(message);
}

/**
 * An explanation of a WASM abort for users (what happened, what it most often means, what to
 * change), or undefined when `error` is not one. Names the tensor memory tfjs held at the time.
 */
export function describeBackendAbort(error: unknown): string | undefined {
  if (!isBackendAbort(error)) return undefined;
  let held = '';
  try {
    const memory = tf.memory();
    held = `; tfjs held ${(memory.numBytes / 1024 ** 3).toFixed(2)} GiB in ${memory.numTensors} tensors`;
  } catch {
    // tfjs's bookkeeping is JavaScript: readable after an abort, but never let it hide the cause.
  }
  const original = error instanceof Error ? error.message : String(error);
  return (
    `the policy's tfjs ${tf.getBackend()} backend aborted ("${original.split('\n')[0]}"), most often because its memory is full ` +
    `(WASM holds at most ${WASM_MEMORY_LIMIT_BYTES / 1024 ** 3} GiB${held}); the module cannot run again in this process. ` +
    'Training holds the policy, its gradients, two AdamW moments and a reference model (about 5× the weights) plus the activations of one update: ' +
    'use fewer sequences per update (training_settings.batch_size × num_generations, or more gradient_accumulation_steps), ' +
    'shorter completions (generation_settings.max_new_tokens), beta 0 (no reference model), a smaller policy, or a GPU (--device webgpu)'
  );
}
