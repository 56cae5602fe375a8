import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { linear, matMul2d } from './tensor-ops.js';

/** Values and gradients of sum(op(a)·op(b) ⊙ w) on the current backend. */
function productAndGrads(aValues: Float32Array, aShape: [number, number], bValues: Float32Array, bShape: [number, number], w: Float32Array, tA: boolean, tB: boolean, product: typeof matMul2d) {
  return tf.tidy(() => {
    const a = tf.tensor2d(aValues, aShape);
    const b = tf.tensor2d(bValues, bShape);
    const value = product(a, b, tA, tB);
    const weight = tf.tensor(w, value.shape);
    const [da, db] = tf.grads((x: tf.Tensor, y: tf.Tensor) => product(x as tf.Tensor2D, y as tf.Tensor2D, tA, tB).mul(weight).sum())([a, b]);
    return { value: Float32Array.from(value.dataSync()), da: Float32Array.from(da!.dataSync()), db: Float32Array.from(db!.dataSync()) };
  });
}

function random(n: number, seed: number): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
}

function maxRelative(actual: Float32Array, expected: Float32Array): number {
  let worst = 0;
  const scale = Math.max(...Array.from(expected, Math.abs), 1e-6);
  for (let i = 0; i < expected.length; i += 1) worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / scale);
  return worst;
}

describe('matMul2d on wasm', () => {
  const batchMatMulCalls: { transposeA: boolean; transposeB: boolean }[] = [];
  let original: tf.KernelConfig | undefined;

  beforeAll(async () => {
    await initBackend('wasm');
    // record the attributes of every BatchMatMul the wasm backend runs
    original = tf.getKernel('BatchMatMul', 'wasm');
    tf.unregisterKernel('BatchMatMul', 'wasm');
    tf.registerKernel({
      ...original!,
      kernelFunc: (args) => {
        const attrs = args.attrs as unknown as { transposeA: boolean; transposeB: boolean };
        batchMatMulCalls.push({ transposeA: attrs.transposeA, transposeB: attrs.transposeB });
        return original!.kernelFunc(args);
      },
    });
  });

  afterAll(() => {
    tf.unregisterKernel('BatchMatMul', 'wasm');
    tf.registerKernel(original!);
  });

  it.each([
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ])('transposeA=%s transposeB=%s: values and both gradients equal the cpu backend, through untransposed kernels only', async (tA, tB) => {
    const [m, k, n] = [7, 5, 6];
    const aShape: [number, number] = tA ? [k, m] : [m, k];
    const bShape: [number, number] = tB ? [n, k] : [k, n];
    const [aValues, bValues, w] = [random(m * k, 1), random(k * n, 2), random(m * n, 3)];
    await initBackend('cpu');
    const reference = productAndGrads(aValues, aShape, bValues, bShape, w, tA, tB, (a, b, x, y) => tf.matMul(a, b, x, y));
    await initBackend('wasm');
    batchMatMulCalls.length = 0;
    const ours = productAndGrads(aValues, aShape, bValues, bShape, w, tA, tB, matMul2d);
    expect(maxRelative(ours.value, reference.value)).toBeLessThan(1e-6);
    expect(maxRelative(ours.da, reference.da)).toBeLessThan(1e-6);
    expect(maxRelative(ours.db, reference.db)).toBeLessThan(1e-6);
    // one product forward, two in the gradient: none transposed (XNNPACK's case)
    expect(batchMatMulCalls).toEqual([
      { transposeA: false, transposeB: false },
      { transposeA: false, transposeB: false },
      { transposeA: false, transposeB: false },
      { transposeA: false, transposeB: false },
    ]);
  });

  it('linear with an nn.Linear weight ([out, in]) runs forward and backward untransposed on wasm', () => {
    batchMatMulCalls.length = 0;
    tf.tidy(() => {
      const x = tf.tensor3d(random(2 * 3 * 4, 4), [2, 3, 4]);
      const weight = tf.tensor2d(random(5 * 4, 5), [5, 4]);
      const [dx, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => linear(a, b, undefined, true).square().sum())([x, weight]);
      expect(dx!.shape).toEqual([2, 3, 4]);
      expect(dw!.shape).toEqual([5, 4]);
    });
    expect(batchMatMulCalls.length).toBeGreaterThan(0);
    expect(batchMatMulCalls.every((call) => !call.transposeA && !call.transposeB)).toBe(true);
  });
});
