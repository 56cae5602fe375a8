/**
 * Recognising a dead WASM backend. When tfjs's WASM backend aborts (Emscripten's `abort()`: a
 * `WebAssembly.RuntimeError` "Aborted(…)", most often because its linear memory cannot grow past
 * 4 GiB), the module cannot run again in this process: every later tfjs call fails the same way.
 * Callers that loop (a trainer) should stop at the first one, with {@link describeBackendAbort}'s
 * explanation, instead of counting it as one failed sample after another.
 */
import * as tf from '@tensorflow/tfjs';

/** Most memory the WASM backend's module can hold (wasm32, its build's maximum). */
export const WASM_MEMORY_LIMIT_BYTES = 4 * 1024 ** 3;

/** True for an error thrown by an aborted WebAssembly module (Emscripten `abort()`, out of memory). */
export function isBackendAbort(error: unknown): boolean {
  if (error instanceof WebAssembly.RuntimeError) return true;
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
