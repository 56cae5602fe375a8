/**
 * Structural views of TensorFlow.js tensors and variables, the only tensor types this package's
 * public API names. Structural on purpose: tfjs's own declarations do not compile in a strict
 * project without `skipLibCheck` (they need the DOM/WebGL lib, `long`'s types, and clash with
 * `@webgpu/types`), and a consumer of this package must not have to relax its compiler for them.
 *
 * Every value typed {@link TfTensor} is a `tf.Tensor` (a {@link TfVariable} a `tf.Variable`) of the
 * tfjs instance this package imports: to run tfjs ops on it, cast it (`logProbs as tf.Tensor2D`).
 * tfjs tensors and variables are assignable to these types as they are, so a `TfjsPolicy`
 * written with tfjs types, or `tf.Variable[]` handed to `AdamW`, needs no cast.
 */

/** Element type of a tensor (tfjs's `DataType`). */
export type TfDataType = 'float32' | 'int32' | 'bool' | 'complex64' | 'string';

/** A TensorFlow.js tensor (a structural view of `tf.Tensor`, see the file header). */
export interface TfTensor {
  /** Unique id of the tensor in its tfjs engine. */
  readonly id: number;
  /** Dimensions, e.g. `[N, T]`. */
  readonly shape: number[];
  /** Element type. */
  readonly dtype: TfDataType;
  /** Number of elements. */
  readonly size: number;
  /** Number of dimensions. */
  readonly rank: number;
  /** Whether {@link dispose} was called. */
  readonly isDisposed: boolean;
  /** Values in row-major order (asynchronous: the read-back that works on every backend, WebGPU included). */
  data(): Promise<Float32Array | Int32Array | Uint8Array>;
  /** Free the tensor's memory. */
  dispose(): void;
}

/** A 2-D TensorFlow.js tensor (`tf.Tensor2D`). */
export interface TfTensor2D extends TfTensor {
  /** `[rows, columns]`. */
  readonly shape: [number, number];
}

/** A 3-D TensorFlow.js tensor (`tf.Tensor3D`). */
export interface TfTensor3D extends TfTensor {
  /** `[d0, d1, d2]`. */
  readonly shape: [number, number, number];
}

/** A TensorFlow.js variable (`tf.Variable`): a mutable, trainable tensor. */
export interface TfVariable extends TfTensor {
  /** Unique name in its tfjs engine (gradients from `tf.variableGrads` are keyed by it). */
  readonly name: string;
  /** Whether `tf.variableGrads` and tfjs optimizers differentiate it. */
  trainable: boolean;
  /** Replace the value with `value` (same shape and dtype). */
  assign(value: TfTensor): void;
}
