/**
 * Differentiable building blocks shared by the architectures, written with plain tfjs ops so that
 * every backend (cpu, wasm, webgpu, tensorflow) can run them forward and backward.
 *
 * Departures from tfjs defaults:
 * - `tf.gather`'s gradient needs the `UnsortedSegmentSum` kernel, which the wasm backend lacks;
 *   {@link gatherRows} uses `scatterND` (which sums duplicate indices) for its gradient instead.
 * - On the wasm backend, {@link matMul2d} sends every product of {@link linear} (forward and
 *   backward) through the one case that tfjs-backend-wasm hands to XNNPACK (2-D, untransposed):
 *   its other cases run a naive loop 10–35× slower (see matMul2d).
 */
import * as tf from '@tensorflow/tfjs';

/** `table[ids]` along axis 0 (embedding lookup), with a scatter-add gradient that works on wasm. */
type CustomGradFunc = Parameters<typeof tf.customGrad>[0];

export const gatherRows = tf.customGrad(((table: tf.Tensor, ids: tf.Tensor, save: tf.GradSaveFunc) => {
  save([ids]);
  return {
    value: tf.gather(table, ids),
    gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
      const indices = saved[0]!;
      return [tf.scatterND(indices.expandDims(1), dy as tf.Tensor, table.shape), tf.zerosLike(indices)];
    },
  };
}) as unknown as CustomGradFunc) as (table: tf.Tensor, ids: tf.Tensor) => tf.Tensor;

/** Identity forward, zero gradient (tfjs has no `stopGradient`). */
export const stopGradient = tf.customGrad(((x: tf.Tensor, _save: tf.GradSaveFunc) => ({
  value: x.clone(),
  gradFunc: (dy: tf.Tensor | tf.Tensor[]) => [tf.zerosLike(dy as tf.Tensor)],
})) as unknown as CustomGradFunc) as (x: tf.Tensor) => tf.Tensor;

/**
 * Affine map on the last axis. `weight` is `[in, out]` (GPT-2 `Conv1D`) when `transposed` is
 * false and `[out, in]` (`nn.Linear`) when true. x: [..., in] → [..., out].
 */
export function linear(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor | undefined, transposed: boolean): tf.Tensor {
  const shape = x.shape;
  const inDim = shape[shape.length - 1]!;
  const outDim = transposed ? weight.shape[0]! : weight.shape[1]!;
  let y = matMul2d(x.reshape([-1, inDim]) as tf.Tensor2D, weight as tf.Tensor2D, false, transposed);
  if (bias) y = y.add(bias);
  return y.reshape([...shape.slice(0, -1), outDim]);
}

/** `op(a) @ op(b)` with both operands materialised untransposed: the product XNNPACK runs. */
function untransposedProduct(a: tf.Tensor2D, b: tf.Tensor2D, transposeA: boolean, transposeB: boolean): tf.Tensor2D {
  return tf.tidy(() => tf.matMul(transposeA ? a.transpose() : a, transposeB ? b.transpose() : b));
}

/**
 * The wasm path of {@link matMul2d}: forward and gradient as untransposed 2-D products.
 * For C = op(A)·op(B) with upstream gradient G = dC (shapes [m, n]):
 *   A·B     → dA = G·Bᵀ,    dB = Aᵀ·G
 *   A·Bᵀ    → dA = G·B,     dB = Gᵀ·A
 *   Aᵀ·B    → dA = B·Gᵀ,    dB = A·G
 *   Aᵀ·Bᵀ   → dA = Bᵀ·Gᵀ,   dB = Gᵀ·Aᵀ
 */
function wasmMatMul(transposeA: boolean, transposeB: boolean): (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D {
  return tf.customGrad(((a: tf.Tensor2D, b: tf.Tensor2D, save: tf.GradSaveFunc) => {
    save([a, b]);
    return {
      value: untransposedProduct(a, b, transposeA, transposeB),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = dy as tf.Tensor2D;
        const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
        if (!transposeA && !transposeB) return [untransposedProduct(g, sb, false, true), untransposedProduct(sa, g, true, false)];
        if (!transposeA && transposeB) return [untransposedProduct(g, sb, false, false), untransposedProduct(g, sa, true, false)];
        if (transposeA && !transposeB) return [untransposedProduct(sb, g, false, true), untransposedProduct(sa, g, false, false)];
        return [untransposedProduct(sb, g, true, true), untransposedProduct(g, sa, true, true)];
      },
    };
  }) as unknown as CustomGradFunc) as unknown as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;
}

const wasmMatMuls = [wasmMatMul(false, false), wasmMatMul(false, true), wasmMatMul(true, false), wasmMatMul(true, true)];

/**
 * `op(a) @ op(b)` for 2-D `a` and `b` (`op` transposes when asked), differentiable.
 *
 * On the wasm backend only the untransposed 2-D product reaches XNNPACK (≈ 19 GFLOP/s on one core
 * of the 2-core build machine); a transposed one takes tfjs-backend-wasm's naive loop (0.5–1.9
 * GFLOP/s), and tfjs's own gradient of a matMul is always transposed. Measured on the default
 * prompt enhancer's training step (16 × 70 tokens), the tied head's x·Eᵀ took 561 ms and its
 * weight gradient Gᵀ·x 1,660 ms. So on wasm the transposes are materialised (a copy of O(size),
 * the same values, so results differ from tf.matMul only by summation order) and the gradient is
 * written with untransposed products; on every other backend this is `tf.matMul`.
 */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D, transposeA = false, transposeB = false): tf.Tensor2D {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a, b, transposeA, transposeB);
  return wasmMatMuls[(transposeA ? 2 : 0) + (transposeB ? 1 : 0)]!(a, b);
}

/** LayerNorm over the last axis: (x − mean) / sqrt(var + eps) · weight + bias. */
export function layerNorm(x: tf.Tensor, weight: tf.Tensor, bias: tf.Tensor, eps: number): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).mul(tf.rsqrt(variance.add(eps))).mul(weight).add(bias);
}

/** RMSNorm over the last axis (Llama): x · rsqrt(mean(x²) + eps) · weight. */
export function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  return x.mul(tf.rsqrt(x.square().mean(-1, true).add(eps))).mul(weight);
}

/** GPT-2's `gelu_new` (tanh approximation): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
export function geluNew(x: tf.Tensor): tf.Tensor {
  const inner = x.add(x.pow(3).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
  return x.mul(0.5).mul(tf.tanh(inner).add(1));
}

/** Exact GELU: 0.5·x·(1 + erf(x/√2)). */
export function geluExact(x: tf.Tensor): tf.Tensor {
  return x.mul(0.5).mul(tf.erf(x.mul(Math.SQRT1_2)).add(1));
}

/** SiLU: x·σ(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return x.mul(tf.sigmoid(x));
}

/** Rotary embedding on x [B, H, T, D] with cos/sin [B, 1, T, D] (non-interleaved halves, as HF). */
export function applyRope(x: tf.Tensor, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor {
  const d = x.shape[3]!;
  const half = d / 2;
  const x1 = x.slice([0, 0, 0, 0], [-1, -1, -1, half]);
  const x2 = x.slice([0, 0, 0, half], [-1, -1, -1, half]);
  const rotated = tf.concat([x2.neg(), x1], 3);
  return x.mul(cos).add(rotated.mul(sin));
}
