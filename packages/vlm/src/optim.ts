/**
 * Optimisation pieces tfjs lacks, shared by {@link sft} and {@link TfjsPolicyEngine} (the GRPO
 * optimizer step on tfjs): AdamW with decoupled weight decay and global-norm gradient clipping.
 * The learning-rate schedules are @vlm-grpo/grpo's (`learningRateAt`).
 *
 * - AdamW (Loshchilov & Hutter), written out in the order of PyTorch's `torch.optim.AdamW`
 *   (non-amsgrad), so float32 results follow PyTorch's rounding. Like PyTorch's multi-tensor
 *   (`foreach`) path, the update runs once over all parameters concatenated into one [total]
 *   vector (m and v are stored that way) and is split back: about 20 tensor ops per step instead
 *   of about 14 per variable, which matters where each op is a GPU kernel launch (WebGPU: 148
 *   variables of GPT-2 small took 2.0 s per step one by one). The arithmetic per element is
 *   unchanged. For each variable p
 *   with gradient g, at update t (1-based):
 *     p ← p · (1 − lr·λ)                       (decoupled weight decay, only where decay applies)
 *     m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
 *     p ← p − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + ε)
 *   Memory: the flat vector is processed in chunks of at most `chunkElements` values (default
 *   2^22, whole rows of 4096), so the step's temporaries (about 17 chunk-sized tensors) stay near
 *   280 MB however large the model; one flat update over SmolLM2-135M's 134.5M parameters needed
 *   about 9 GB of temporaries and aborted the 4 GiB WASM backend. Chunking changes no value (the
 *   arithmetic is element-wise): any chunk size gives the same bits.
 *   Departure: the Hugging Face Trainer excludes biases and LayerNorm weights from decay by name;
 *   here decay applies by default to variables of rank ≥ 2 (matrices and embeddings), which
 *   excludes biases and norm scales; `decay` overrides it (flags or a predicate).
 *   State: `getState()` (async, `data()`: works on WebGPU) and `getStateSync()` (`dataSync()`:
 *   CPU/WASM/tfjs-node only) copy the step count and moments with their shapes; `setState`
 *   restores them exactly, so a resumed run continues bit for bit.
 * - Clipping (`torch.nn.utils.clip_grad_norm_`): n = √Σ‖g‖²; every gradient is scaled by
 *   min(1, maxNorm / (n + 1e-6)). Async: the norm is read back with `data()` (synchronous reads are
 *   unavailable on WebGPU in Node). {@link globalGradNorm} sums squares per row of 4096 values of
 *   the concatenated gradients, chunk by chunk (chunks are whole rows), then over the row sums: the
 *   same rows and the same final sum whatever the chunk size, so the same bits.
 */
import * as tf from '@tensorflow/tfjs';
import { VlmError } from './errors.js';
import type { TfTensor, TfVariable } from './tf-tensor.js';

/** Options of {@link AdamW} (defaults: `torch.optim.AdamW`, decay mask as described above). */
export interface AdamWOptions {
  /** β1 (default: 0.9). */
  beta1?: number;
  /** β2 (default: 0.999). */
  beta2?: number;
  /** ε (default: 1e-8). */
  epsilon?: number;
  /** Decoupled weight decay λ (default: 0.01, as `torch.optim.AdamW`). */
  weightDecay?: number;
  /**
   * Which variables get weight decay: one flag per variable, or a predicate (default: variables of
   * rank ≥ 2, i.e. matrices and embeddings, not biases or norm scales).
   */
  decay?: readonly boolean[] | ((variable: TfVariable, index: number) => boolean);
  /**
   * Values per chunk of the flat update (default: {@link DEFAULT_CHUNK_ELEMENTS}, 2^22): bounds
   * the step's temporary memory; rounded up to whole rows of 4096; `Infinity` = one chunk (fewest
   * kernel launches, most memory). Results do not depend on it.
   */
  chunkElements?: number;
}

/**
 * Default chunk of the flat optimizer update and of the gradient norm: 2^22 values (16 MiB per
 * fp32 temporary).
 */
export const DEFAULT_CHUNK_ELEMENTS = 2 ** 22;

/** Width of the rows the gradient norm sums first (and the granularity of chunks). */
const NORM_ROW = 4096;

/** A half-open range [start, end) of the flat concatenation of tensors. */
interface FlatRange {
  start: number;
  end: number;
}

/** Ranges of at most `chunk` values (whole rows of 4096, except the last) covering [0, total). */
function flatRanges(total: number, chunk: number | undefined): FlatRange[] {
  const requested = chunk ?? DEFAULT_CHUNK_ELEMENTS;
  if (!(requested > 0)) throw new VlmError('VLM_INVALID_ARGUMENT', `chunkElements: expected a positive number, got ${requested}`);
  const size = Number.isFinite(requested) ? Math.ceil(requested / NORM_ROW) * NORM_ROW : Math.max(total, 1);
  const ranges: FlatRange[] = [];
  for (let start = 0; start < total; start += size) ranges.push({ start, end: Math.min(total, start + size) });
  return ranges;
}

/**
 * [end − start] values of the flat concatenation of `tensors` (sizes `sizes`): slices of the
 * tensors that overlap the range, concatenated (call inside `tf.tidy`).
 */
function sliceFlat(tensors: readonly tf.Tensor[], sizes: readonly number[], range: FlatRange): tf.Tensor1D {
  const parts: tf.Tensor1D[] = [];
  let offset = 0;
  tensors.forEach((tensor, i) => {
    const size = sizes[i]!;
    const lo = Math.max(range.start, offset);
    const hi = Math.min(range.end, offset + size);
    if (lo < hi) {
      const flat = tensor.reshape([-1]) as tf.Tensor1D;
      parts.push(lo === offset && hi === offset + size ? flat : tf.slice(flat, [lo - offset], [hi - lo]));
    }
    offset += size;
  });
  return parts.length === 1 ? parts[0]! : (tf.concat(parts) as tf.Tensor1D);
}

/** A plain copy of a tensor. */
export interface TensorData {
  /** Dimensions. */
  shape: number[];
  /** Row-major float32 values. */
  data: Float32Array;
}

/** Serialisable AdamW state: step count and moments (one entry per variable, in variable order). */
export interface AdamWState {
  /** Updates applied so far. */
  step: number;
  /** First moments. */
  m: TensorData[];
  /** Second moments. */
  v: TensorData[];
}

/** AdamW over a fixed list of variables (see the file header). */
export class AdamW {
  private readonly variables: tf.Variable[];
  /** Element counts of the variables, in order (the flat layout of `m`, `v` and the updates). */
  private readonly sizes: number[];
  /** The chunks of the flat [total] layout, in order. */
  private readonly ranges: FlatRange[];
  /** First moments, one [end − start] variable per chunk. */
  private readonly m: tf.Variable[];
  /** Second moments, one [end − start] variable per chunk. */
  private readonly v: tf.Variable[];
  /**
   * Per chunk: a [end − start] bool mask (true where weight decay applies) when the chunk mixes
   * decayed and other values, `true` when all of it decays, `false` when none does.
   */
  private readonly decayMasks: (tf.Tensor | boolean)[];
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;
  /** Updates applied so far. */
  stepCount = 0;

  /**
   * `variables`: tfjs variables (`tf.Variable[]`, typed structurally in the public API, see
   * `tf-tensor.ts`), updated in place by {@link step}.
   */
  constructor(variables: readonly TfVariable[], options: AdamWOptions = {}) {
    this.variables = variables as tf.Variable[];
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    const decay = options.decay ?? ((variable: TfVariable) => variable.rank >= 2);
    if (typeof decay !== 'function' && decay.length !== variables.length) {
      throw new VlmError('VLM_INVALID_ARGUMENT', `AdamW: decay has ${decay.length} flags for ${variables.length} variables`);
    }
    if (variables.length === 0) throw new VlmError('VLM_INVALID_ARGUMENT', 'AdamW: no variables to optimise');
    const decays = variables.map((variable, i) => (typeof decay === 'function' ? decay(variable, i) : decay[i]!));
    this.sizes = variables.map((variable) => variable.size);
    const total = this.sizes.reduce((a, b) => a + b, 0);
    this.ranges = flatRanges(total, options.chunkElements);
    // tidy frees the zeros tensors; variables survive tidy.
    this.m = this.ranges.map((r) => tf.tidy(() => tf.variable(tf.zeros([r.end - r.start]), false)));
    this.v = this.ranges.map((r) => tf.tidy(() => tf.variable(tf.zeros([r.end - r.start]), false)));
    const mask = new Uint8Array(total);
    let offset = 0;
    this.sizes.forEach((size, i) => {
      if (decays[i]) mask.fill(1, offset, offset + size);
      offset += size;
    });
    this.decayMasks = this.ranges.map((r) => {
      const part = mask.subarray(r.start, r.end);
      if (part.every((x) => x === 1)) return true;
      if (part.every((x) => x === 0)) return false;
      return tf.tensor1d(part.slice(), 'bool');
    });
  }

  /** Apply one update with `grads` (same order as the variables) at learning rate `learningRate`. */
  step(grads: readonly TfTensor[], learningRate: number): void {
    if (grads.length !== this.variables.length) {
      throw new VlmError('VLM_INVALID_ARGUMENT', `AdamW.step: expected ${this.variables.length} gradients, got ${grads.length}`);
    }
    grads.forEach((g, i) => {
      if (g.size !== this.sizes[i]) {
        throw new VlmError('VLM_INVALID_ARGUMENT', `AdamW.step: gradient ${i} has ${g.size} values, its variable ${this.sizes[i]}`);
      }
    });
    this.stepCount += 1;
    const t = this.stepCount;
    const stepSize = learningRate / (1 - this.beta1 ** t);
    const sqrtBc2 = Math.sqrt(1 - this.beta2 ** t);
    const gradients = grads as readonly tf.Tensor[]; // tfjs tensors, typed structurally in the public API
    // Updated values of the variables not yet assigned: a variable is assigned once the chunks that
    // cover it are done (later chunks still read the old values of the variables they cover).
    const pending: tf.Tensor1D[][] = this.variables.map(() => []);
    let next = 0; // first variable not yet assigned
    let variableEnd = this.sizes[0]!;
    this.ranges.forEach((range, c) => {
      const updated = tf.tidy(() => {
        const g = sliceFlat(gradients, this.sizes, range);
        let param: tf.Tensor = sliceFlat(this.variables, this.sizes, range);
        const mask = this.decayMasks[c]!;
        if (this.weightDecay !== 0 && mask !== false) {
          const decayed = tf.mul(param, 1 - learningRate * this.weightDecay);
          param = mask === true ? decayed : tf.where(mask, decayed, param);
        }
        const mNew = tf.add(tf.mul(this.m[c]!, this.beta1), tf.mul(g, 1 - this.beta1));
        const vNew = tf.add(tf.mul(this.v[c]!, this.beta2), tf.mul(tf.square(g), 1 - this.beta2));
        const denom = tf.add(tf.div(tf.sqrt(vNew), sqrtBc2), this.epsilon);
        this.m[c]!.assign(mNew);
        this.v[c]!.assign(vNew);
        return tf.sub(param, tf.mul(tf.div(mNew, denom), stepSize)) as tf.Tensor1D;
      });
      // Hand the chunk's values to the variables it covers.
      let offset = 0;
      this.sizes.forEach((size, i) => {
        const lo = Math.max(range.start, offset);
        const hi = Math.min(range.end, offset + size);
        if (lo < hi) pending[i]!.push(lo === range.start && hi === range.end ? updated.clone() : tf.slice(updated, [lo - range.start], [hi - lo]));
        offset += size;
      });
      updated.dispose();
      // Assign every variable whose values are complete.
      while (next < this.variables.length && variableEnd <= range.end) {
        const parts = pending[next]!;
        const p = this.variables[next]!;
        tf.tidy(() => p.assign((parts.length === 1 ? parts[0]! : tf.concat(parts)).reshape(p.shape)));
        tf.dispose(parts);
        pending[next] = [];
        next += 1;
        variableEnd += this.sizes[next] ?? 0;
      }
    });
  }

  /** Copy of the step count and moments, read with `data()` (any backend, WebGPU included). */
  async getState(): Promise<AdamWState> {
    const m = await Promise.all(this.m.map((x) => x.data()));
    const v = await Promise.all(this.v.map((x) => x.data()));
    return { step: this.stepCount, m: this.unflatten(m as Float32Array[]), v: this.unflatten(v as Float32Array[]) };
  }

  /**
   * {@link getState} with synchronous reads (`dataSync()`), for callers that must stay synchronous
   * on backends that allow it (cpu, wasm, tfjs-node); not available on WebGPU in Node.
   */
  getStateSync(): AdamWState {
    return {
      step: this.stepCount,
      m: this.unflatten(this.m.map((x) => x.dataSync() as Float32Array)),
      v: this.unflatten(this.v.map((x) => x.dataSync() as Float32Array)),
    };
  }

  /** Per-variable copies of the per-chunk arrays. */
  private unflatten(chunks: readonly Float32Array[]): TensorData[] {
    const total = this.ranges.at(-1)!.end;
    const flat = chunks.length === 1 ? chunks[0]! : new Float32Array(total);
    if (chunks.length > 1) chunks.forEach((chunk, c) => flat.set(chunk, this.ranges[c]!.start));
    let offset = 0;
    return this.variables.map((variable, i) => {
      const data = flat.slice(offset, offset + this.sizes[i]!);
      offset += this.sizes[i]!;
      return { shape: [...variable.shape], data };
    });
  }

  /** Restore the step count and moments from {@link getState}; checks counts and shapes first. */
  setState(state: AdamWState): void {
    const check = (list: readonly TensorData[], what: string): void => {
      if (list.length !== this.variables.length) {
        throw new VlmError('VLM_INVALID_ARGUMENT', `AdamW state ${what}: expected ${this.variables.length} tensors, got ${list.length}`);
      }
      list.forEach((entry, i) => {
        const shape = this.variables[i]!.shape;
        if (entry.shape.length !== shape.length || entry.shape.some((d, k) => d !== shape[k]) || entry.data.length !== this.sizes[i]) {
          throw new VlmError(
            'VLM_INVALID_ARGUMENT',
            `AdamW state ${what}[${i}]: expected shape [${shape.join(', ')}], got [${entry.shape.join(', ')}] with ${entry.data.length} values`,
          );
        }
      });
    };
    check(state.m, 'm');
    check(state.v, 'v');
    if (!Number.isInteger(state.step) || state.step < 0) {
      throw new VlmError('VLM_INVALID_ARGUMENT', `AdamW state step: expected a non-negative integer, got ${state.step}`);
    }
    const flatten = (list: readonly TensorData[]): Float32Array => {
      const out = new Float32Array(this.ranges.at(-1)!.end);
      let offset = 0;
      for (const entry of list) {
        out.set(entry.data, offset);
        offset += entry.data.length;
      }
      return out;
    };
    const m = flatten(state.m);
    const v = flatten(state.v);
    this.ranges.forEach((r, c) =>
      tf.tidy(() => {
        this.m[c]!.assign(tf.tensor1d(m.subarray(r.start, r.end)));
        this.v[c]!.assign(tf.tensor1d(v.subarray(r.start, r.end)));
      }),
    );
    this.stepCount = state.step;
  }

  /** Free the moment tensors. */
  dispose(): void {
    tf.dispose([...this.m, ...this.v, ...this.decayMasks.filter((mask): mask is tf.Tensor => typeof mask !== 'boolean')]);
  }
}

/**
 * √Σ‖g‖² over `gradients` (see the file header): squares summed per row of 4096 values of their
 * concatenation (zero-padded at the end), chunk by chunk (`chunkElements`, default
 * {@link DEFAULT_CHUNK_ELEMENTS}: chunks are whole rows, so any chunk size gives the same bits),
 * then over the row sums; read back with `data()`.
 */
export async function globalGradNorm(gradients: readonly TfTensor[], chunkElements?: number): Promise<number> {
  const grads = gradients as readonly tf.Tensor[]; // tfjs tensors, typed structurally in the public API (tf-tensor.ts)
  // Rows of 4096 reduced in two stages: [rows, 4096] → [rows] → scalar. A few kernels instead of
  // two per gradient, and the first stage runs one workgroup per row (tfjs-webgpu reduces each
  // output in one workgroup: one sum over GPT-2's 124M values took 170 ms on an H100, rows of 4096
  // spread it over 30k workgroups).
  const sizes = grads.map((g) => g.size);
  const total = sizes.reduce((n, size) => n + size, 0);
  if (total === 0) return 0;
  const rowSums = flatRanges(total, chunkElements).map((range) =>
    tf.tidy(() => {
      let flat: tf.Tensor = sliceFlat(grads, sizes, range);
      const rows = Math.ceil((range.end - range.start) / NORM_ROW);
      if (rows * NORM_ROW > flat.size) flat = tf.concat([flat, tf.zeros([rows * NORM_ROW - flat.size])]);
      return tf.sum(tf.square(flat.reshape([rows, NORM_ROW])), 1);
    }),
  );
  const normTensor = tf.tidy(() => tf.sqrt(tf.sum(rowSums.length === 1 ? rowSums[0]! : tf.concat(rowSums))));
  tf.dispose(rowSums);
  const norm = (await normTensor.data())[0]!;
  normTensor.dispose();
  return norm;
}

/** Options of {@link clipByGlobalNorm}. */
export interface ClipOptions {
  /** Chunk of the norm's reduction (default: {@link DEFAULT_CHUNK_ELEMENTS}; see {@link globalGradNorm}). */
  chunkElements?: number;
  /**
   * Dispose each input gradient as soon as its clipped copy exists (default: false), so clipping
   * needs one gradient's worth of extra memory instead of a second copy of all of them.
   */
  consumeInputs?: boolean;
}

/**
 * Global-norm clipping as `clip_grad_norm_` (see the file header). Returns new tensors (the caller
 * disposes them, and the inputs unless `consumeInputs`) and the norm before clipping. `maxNorm`
 * undefined, ≤ 0 or not finite disables clipping (the norm is still returned).
 */
export async function clipByGlobalNorm(
  gradients: readonly TfTensor[],
  maxNorm: number | undefined,
  options: ClipOptions = {},
): Promise<{ grads: TfTensor[]; norm: number }> {
  const grads = gradients as readonly tf.Tensor[]; // tfjs tensors, typed structurally in the public API (tf-tensor.ts)
  const norm = await globalGradNorm(grads, options.chunkElements);
  const clip = !(maxNorm === undefined || !Number.isFinite(maxNorm) || maxNorm <= 0);
  const coef = clip ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
  const out = grads.map((g) => {
    const result = clip ? tf.mul(g, coef) : g.clone();
    if (options.consumeInputs) g.dispose();
    return result;
  });
  return { grads: out, norm };
}
