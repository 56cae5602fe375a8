/** Small helpers shared by the benchmark scripts in tools/bench (and tools/device). */
import { realpathSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

/**
 * True when the module of `moduleUrl` (its `import.meta.url`) is the script node was started
 * with, also through a symbolic link; false when it is imported (e.g. by a test).
 */
export function isEntryPoint(moduleUrl) {
  try {
    return moduleUrl === pathToFileURL(realpathSync(process.argv[1] ?? '')).href;
  } catch {
    return false;
  }
}


/**
 * With `device` `cuda`: exit with status 1 and one line naming why when ONNX Runtime's CUDA provider
 * is not installed beside onnxruntime-node or a library it links would not be found
 * (@vlm-grpo/device's check, from the files), instead of a native error from the first session.
 * Other devices pass through.
 */
export async function requireCudaProvider(device, script) {
  if (device !== 'cuda') return;
  const { cudaProviderStatus } = await import('@vlm-grpo/device');
  const status = cudaProviderStatus({ resolveFrom: [import.meta.url] });
  if (status.ready) return;
  console.error(`${script}: --device cuda: ${status.reason}`);
  process.exit(1);
}

/** Median of a non-empty list. */
export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** `rows` × `length` deterministic token ids in [0, vocab), varied by `salt`. */
export function syntheticIds(rows, length, vocab, salt = 0) {
  return Array.from({ length: rows }, (_, r) => Array.from({ length }, (_, t) => (r * 31 + t * 7 + salt * 13 + 5) % vocab));
}

/** Median milliseconds of `repeats` awaited calls of `fn` after one warm-up call. */
export async function timeMs(fn, repeats) {
  await fn();
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return median(times);
}

/**
 * One policy training step as the trainer runs it: `tf.variableGrads` of `lossOf` (a scalar loss
 * closure), global-norm clipping to 1, an AdamW update at `learningRate`, then an awaited read of
 * the loss (so the GPU work is finished when the promise resolves). `tf`, `clipByGlobalNorm` and
 * the optimizer come from the caller's @tensorflow/tfjs and @vlm-grpo/vlm.
 */
export async function trainStep({ tf, clipByGlobalNorm, optimizer, variables, lossOf, learningRate }) {
  const { value, grads } = tf.variableGrads(lossOf, variables);
  const list = variables.map((variable) => grads[variable.name]);
  const clipped = await clipByGlobalNorm(list, 1);
  optimizer.step(clipped.grads, learningRate);
  await value.data();
  tf.dispose([value, ...list, ...clipped.grads]);
}
