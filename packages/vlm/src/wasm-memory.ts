/**
 * The WASM backend's memory: its 4 GiB limit, what training a policy needs of it, and recognising
 * the abort that running out of it causes.
 *
 * - {@link estimateWasmTrainingBytes}: measured, not derived. The WASM heap never shrinks: it
 *   grows over the first two or three updates and then stays flat, so the plateau is what counts.
 *   Measured on the 2-core build machine (tfjs-backend-wasm, Llamas with SmolLM2's 49,152-token
 *   vocabulary, 42 prompt + 42 completion tokens per sequence, 2026-12-07; heap =
 *   `HEAP8.buffer.byteLength` after 4–7 updates; L = one micro-batch's fp32 logits, sequences ×
 *   completion tokens × vocabulary × 4 bytes):
 *
 *   | parameters (fp32 weights W) | reference model | sequences (L) | heap | estimate |
 *   | ---: | --- | ---: | ---: | ---: |
 *   | 10.2M (39 MiB) | yes | 2 (15.8 MiB) | 671 MiB | 808 MiB |
 *   | 10.2M (39 MiB) | yes | 8 (63 MiB) | 1,541 MiB | 1,753 MiB |
 *   | 10.2M (39 MiB) | yes | 16 (126 MiB) | 2,619 MiB | 3,013 MiB |
 *   | 56.6M (216 MiB) | yes | 2 | 2,585 MiB | 2,755 MiB |
 *   | 56.6M (216 MiB) | no | 2 | 2,262 MiB | 2,539 MiB |
 *   | 77.9M (297 MiB) | no | 2 | 3,184 MiB | 3,349 MiB |
 *
 *   A least-squares fit gives ≈ 10.8·W + 17.7·L with a reference model (≈ 9.5·W without): tfjs's
 *   tensors hold only the weights, gradients and AdamW's two moments (4·W, 5·W with the reference);
 *   the rest is XNNPACK's packed copies of matmul operands, the transient transposed copies of
 *   tensor-ops.ts's `matMul2d` (the plateau moves 3 % without it), the logits with their softmax,
 *   gradients and copies, and allocator slack. Rule, 5–17 % above every plateau measured: 10·W
 *   (11·W with a reference model) + 20·L + 64 MiB. SmolLM2-135M itself aborted after its first
 *   backward at 3.84 GiB, still growing. It is a rule for refusing what cannot fit, not a bound.
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
  /** Sequences in one forward/backward call (a GRPO micro-batch) (default: 0: no activation term). */
  sequences?: number;
  /** Longest completion of a sequence, in tokens (default: 0). */
  completionTokens?: number;
  /** The policy's vocabulary size (default: 0). */
  vocabSize?: number;
}

/** fp32-weight multiples the WASM heap reaches (see the file header). */
const WEIGHT_FACTOR = { policy: 10, withReference: 11 } as const;
/** Logits-sized buffers of one micro-batch that the heap holds at its peak (see the file header). */
const LOGITS_BUFFERS = 20;
/** The module, its stacks and small tensors. */
const FIXED_BYTES = 64 * 1024 ** 2;

/**
 * Rule-of-thumb WASM memory, in bytes, to train a policy of `numParameters` fp32 parameters with
 * AdamW on the tfjs WASM backend (see the file header: measured plateaus, 5–17 % below this):
 * 10× the fp32 weights (11× with a reference model) + 20 × sequences × completionTokens ×
 * vocabSize × 4 bytes (the logits of one micro-batch) + 64 MiB.
 */
export function estimateWasmTrainingBytes(numParameters: number, options: WasmTrainingEstimateOptions = {}): number {
  const weights = numParameters * 4 * (options.reference === false ? WEIGHT_FACTOR.policy : WEIGHT_FACTOR.withReference);
  const logits = (options.sequences ?? 0) * (options.completionTokens ?? 0) * (options.vocabSize ?? 0) * 4;
  return weights + LOGITS_BUFFERS * logits + FIXED_BYTES;
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
    'Training holds the policy, its gradients, two AdamW moments, a reference model and their packed matmul copies (about 11× the fp32 weights) plus the activations of one micro-batch: ' +
    'use fewer sequences per update (training_settings.batch_size × num_generations, or more gradient_accumulation_steps), ' +
    'shorter completions (generation_settings.max_new_tokens), beta 0 (no reference model), a smaller policy, or a GPU (--device webgpu)'
  );
}
