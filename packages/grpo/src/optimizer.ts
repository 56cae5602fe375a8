/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter) written out step by step as PyTorch's
 * `torch.optim.AdamW` (non-amsgrad, foreach=False) does it, plus global-norm gradient clipping as
 * `torch.nn.utils.clip_grad_norm_`. For each variable p with gradient g, at update t (1-based):
 *   p ← p · (1 − lr·λ)                       (decoupled weight decay, only where decay applies)
 *   m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
 *   p ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + ε)
 * Clipping: n = √Σ‖g‖²;  g ← g · min(1, maxNorm / (n + 1e-6)).
 * Departure: transformers' Trainer excludes biases and LayerNorm weights from decay by name;
 * names are unknown here, so decay applies by default to variables of rank ≥ 2 (matrices and
 * embeddings), which excludes biases and norm scales; override with `decayFilter`.
 */
import type * as tf from '@tensorflow/tfjs';
import { GrpoError } from './errors.js';
import type { Tf } from './tf.js';

/** AdamW hyper-parameters (defaults: transformers' TrainingArguments). */
export interface AdamWOptions {
  /** β1 (default: 0.9). */
  beta1?: number;
  /** β2 (default: 0.999). */
  beta2?: number;
  /** ε (default: 1e-8). */
  epsilon?: number;
  /** Decoupled weight decay λ (default: 0). */
  weightDecay?: number;
  /** Which variables get weight decay (default: rank ≥ 2). */
  decayFilter?: (variable: tf.Variable, index: number) => boolean;
}

/** A plain copy of a tensor. */
export interface TensorData {
  /** Dimensions. */
  shape: number[];
  /** Row-major float32 values. */
  data: Float32Array;
}

/** Exported AdamW moments and step count. */
export interface AdamWState {
  /** Updates applied so far. */
  step: number;
  /** First moments, one per variable. */
  m: TensorData[];
  /** Second moments, one per variable. */
  v: TensorData[];
}

/** AdamW over a fixed list of variables. */
export class AdamW {
  private readonly tfm: Tf;
  private readonly variables: tf.Variable[];
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private readonly decay: boolean[];
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;
  /** Updates applied so far. */
  stepCount = 0;

  constructor(tfm: Tf, variables: tf.Variable[], options: AdamWOptions = {}) {
    this.tfm = tfm;
    this.variables = variables;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    const filter = options.decayFilter ?? ((variable: tf.Variable) => variable.rank >= 2);
    this.decay = variables.map((variable, i) => filter(variable, i));
    this.m = variables.map((variable) => tfm.variable(tfm.zerosLike(variable), false));
    this.v = variables.map((variable) => tfm.variable(tfm.zerosLike(variable), false));
  }

  /** Apply one update with gradients `grads` (same order as the variables) and learning rate `lr`. */
  step(grads: readonly tf.Tensor[], lr: number): void {
    const tfm = this.tfm;
    if (grads.length !== this.variables.length) {
      throw new GrpoError('GRPO_INVALID_ARGUMENT', `AdamW.step: expected ${this.variables.length} gradients, got ${grads.length}`);
    }
    this.stepCount += 1;
    const t = this.stepCount;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    const stepSize = lr / bc1;
    const sqrtBc2 = Math.sqrt(bc2);
    tfm.tidy(() => {
      this.variables.forEach((p, i) => {
        const g = grads[i]!;
        const m = this.m[i]!;
        const v = this.v[i]!;
        let param: tf.Tensor = p;
        if (this.decay[i] && this.weightDecay !== 0) param = tfm.mul(param, 1 - lr * this.weightDecay);
        const mNew = tfm.add(tfm.mul(m, this.beta1), tfm.mul(g, 1 - this.beta1));
        const vNew = tfm.add(tfm.mul(v, this.beta2), tfm.mul(tfm.square(g), 1 - this.beta2));
        const denom = tfm.add(tfm.div(tfm.sqrt(vNew), sqrtBc2), this.epsilon);
        m.assign(mNew);
        v.assign(vNew);
        p.assign(tfm.sub(param, tfm.mul(tfm.div(mNew, denom), stepSize)));
      });
    });
  }

  /** Copy of the moments and step count. */
  getState(): AdamWState {
    const read = (x: tf.Variable): TensorData => ({ shape: [...x.shape], data: Float32Array.from(x.dataSync() as Float32Array) });
    return { step: this.stepCount, m: this.m.map(read), v: this.v.map(read) };
  }

  /** Restore moments and step count from {@link getState}. */
  setState(state: AdamWState): void {
    const check = (list: TensorData[], what: string): void => {
      if (list.length !== this.variables.length) {
        throw new GrpoError('GRPO_STATE_MISMATCH', `optimizer ${what}: expected ${this.variables.length} tensors, got ${list.length}`);
      }
      list.forEach((entry, i) => assertShape(entry, this.variables[i]!.shape, `optimizer ${what}[${i}]`));
    };
    check(state.m, 'm');
    check(state.v, 'v');
    this.tfm.tidy(() => {
      state.m.forEach((entry, i) => this.m[i]!.assign(this.tfm.tensor(entry.data, entry.shape)));
      state.v.forEach((entry, i) => this.v[i]!.assign(this.tfm.tensor(entry.data, entry.shape)));
    });
    this.stepCount = state.step;
  }

  /** Free the moment tensors. */
  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}

/** Throw GRPO_STATE_MISMATCH unless `entry` has `shape` and matching data length. */
export function assertShape(entry: TensorData, shape: readonly number[], what: string): void {
  const size = shape.reduce((a, b) => a * b, 1);
  if (entry.shape.length !== shape.length || entry.shape.some((d, i) => d !== shape[i]) || entry.data.length !== size) {
    throw new GrpoError(
      'GRPO_STATE_MISMATCH',
      `${what}: expected shape [${shape.join(', ')}], got [${entry.shape.join(', ')}] with ${entry.data.length} values`,
    );
  }
}

/**
 * Global-norm clipping as `clip_grad_norm_`: returns the clipped gradients (new tensors) and the
 * norm before clipping. `maxNorm` ≤ 0 or undefined disables clipping (the norm is still returned).
 */
export function clipByGlobalNorm(
  tfm: Tf,
  grads: readonly tf.Tensor[],
  maxNorm: number | undefined,
): { grads: tf.Tensor[]; norm: number } {
  const normTensor = tfm.tidy(() => tfm.sqrt(tfm.addN(grads.map((g) => tfm.sum(tfm.square(g))))));
  const norm = normTensor.dataSync()[0]!;
  normTensor.dispose();
  if (maxNorm === undefined || maxNorm <= 0) return { grads: grads.map((g) => g.clone()), norm };
  const coef = Math.min(1, maxNorm / (norm + 1e-6));
  return { grads: grads.map((g) => tfm.mul(g, coef)), norm };
}
