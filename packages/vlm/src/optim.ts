/**
 * Optimisation pieces tfjs lacks: AdamW with decoupled weight decay, global-norm gradient clipping
 * and warm-up + cosine/linear learning-rate schedules.
 *
 * - AdamW (Loshchilov & Hutter; PyTorch `torch.optim.AdamW`): p ← p·(1 − lr·λ);
 *   m ← β1·m + (1 − β1)·g; v ← β2·v + (1 − β2)·g²; p ← p − lr·(m/(1 − β1ᵗ)) / (√(v/(1 − β2ᵗ)) + ε).
 *   Weight decay applies to matrices and embeddings only (not biases or norm weights), as the
 *   Hugging Face Trainer groups parameters.
 * - Clipping (`torch.nn.utils.clip_grad_norm_`): total = ‖[g₁ … gₙ]‖₂; every gradient is scaled by
 *   min(1, maxNorm / (total + 1e-6)).
 * - Schedules (transformers `get_cosine_schedule_with_warmup` / `get_linear_schedule_with_warmup`):
 *   factor = step / warmup during warm-up, then 0.5·(1 + cos(π·progress)) (cosine) or
 *   1 − progress (linear), progress = (step − warmup) / (total − warmup); `step` counts optimizer
 *   updates already made, so with warm-up the first update uses learning rate 0, as in transformers.
 */
import * as tf from '@tensorflow/tfjs';
import { VlmError } from './errors.js';

/** Options of {@link AdamW}. */
export interface AdamWOptions {
  /** β1 (default: 0.9). */
  beta1?: number;
  /** β2 (default: 0.999). */
  beta2?: number;
  /** ε (default: 1e-8). */
  epsilon?: number;
  /** Decoupled weight decay λ (default: 0.01). */
  weightDecay?: number;
  /** Per-variable flag: apply weight decay (default: all true). */
  decay?: boolean[];
}

/** Serializable optimizer state. */
export interface AdamWState {
  /** Updates made so far. */
  step: number;
  /** First moments, one per variable. */
  m: Float32Array[];
  /** Second moments, one per variable. */
  v: Float32Array[];
}

/** AdamW over a fixed list of variables. */
export class AdamW {
  private readonly variables: tf.Variable[];
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private readonly beta1: number;
  private readonly beta2: number;
  private readonly epsilon: number;
  private readonly weightDecay: number;
  private readonly decay: boolean[];
  /** Updates made so far. */
  step = 0;

  constructor(variables: tf.Variable[], options: AdamWOptions = {}) {
    this.variables = variables;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    this.decay = options.decay ?? variables.map(() => true);
    if (this.decay.length !== variables.length) {
      throw new VlmError('VLM_INVALID_ARGUMENT', `AdamW: decay has ${this.decay.length} flags for ${variables.length} variables`);
    }
    // tidy frees the zerosLike tensors; variables survive tidy.
    this.m = variables.map((variable) => tf.tidy(() => tf.variable(tf.zerosLike(variable), false)));
    this.v = variables.map((variable) => tf.tidy(() => tf.variable(tf.zerosLike(variable), false)));
  }

  /** Apply one update with `grads` (same order as the variables) at `learningRate`. */
  applyGradients(grads: readonly tf.Tensor[], learningRate: number): void {
    if (grads.length !== this.variables.length) {
      throw new VlmError('VLM_INVALID_ARGUMENT', `AdamW: ${grads.length} gradients for ${this.variables.length} variables`);
    }
    this.step += 1;
    const c1 = 1 - this.beta1 ** this.step;
    const c2 = 1 - this.beta2 ** this.step;
    tf.tidy(() => {
      this.variables.forEach((variable, i) => {
        const g = grads[i]!;
        const m = this.m[i]!.mul(this.beta1).add(g.mul(1 - this.beta1));
        const v = this.v[i]!.mul(this.beta2).add(g.square().mul(1 - this.beta2));
        this.m[i]!.assign(m);
        this.v[i]!.assign(v);
        let p: tf.Tensor = variable;
        if (this.decay[i] && this.weightDecay !== 0) p = p.mul(1 - learningRate * this.weightDecay);
        const update = m.div(c1).div(v.div(c2).sqrt().add(this.epsilon)).mul(learningRate);
        variable.assign(p.sub(update));
      });
    });
  }

  /** Copy of the state (for checkpoints). */
  async getState(): Promise<AdamWState> {
    const read = (tensors: tf.Variable[]) => Promise.all(tensors.map(async (t) => ((await t.data()) as Float32Array).slice()));
    return { step: this.step, m: await read(this.m), v: await read(this.v) };
  }

  /** Restore a state from {@link getState}. */
  setState(state: AdamWState): void {
    if (state.m.length !== this.m.length || state.v.length !== this.v.length) {
      throw new VlmError('VLM_INVALID_ARGUMENT', `AdamW state has ${state.m.length} moments for ${this.m.length} variables`);
    }
    this.step = state.step;
    tf.tidy(() => {
      state.m.forEach((values, i) => this.m[i]!.assign(tf.tensor(values, this.m[i]!.shape)));
      state.v.forEach((values, i) => this.v[i]!.assign(tf.tensor(values, this.v[i]!.shape)));
    });
  }

  /** Free the moment tensors. */
  dispose(): void {
    tf.dispose([...this.m, ...this.v]);
  }
}

/**
 * Scale gradients so their global L2 norm is at most `maxNorm` (0 or ∞ = no clipping). Returns new
 * tensors (the caller disposes them and the inputs) and the norm before clipping. Async because the
 * norm is read back with `data()` (synchronous reads are unavailable on WebGPU in Node).
 */
export async function clipByGlobalNorm(grads: readonly tf.Tensor[], maxNorm: number): Promise<{ grads: tf.Tensor[]; norm: number }> {
  const squared = tf.tidy(() => tf.addN(grads.map((g) => g.square().sum())));
  const norm = Math.sqrt((await squared.data())[0]!);
  squared.dispose();
  const scale = Number.isFinite(maxNorm) && maxNorm > 0 ? Math.min(1, maxNorm / (norm + 1e-6)) : 1;
  return { grads: grads.map((g) => (scale === 1 ? g.clone() : g.mul(scale))), norm };
}

/** Learning-rate schedule kinds. */
export type ScheduleKind = 'cosine' | 'linear' | 'constant';

/** Learning rate after `step` updates (see the file header). */
export function learningRateAt(
  step: number,
  options: { learningRate: number; warmupSteps: number; totalSteps: number; schedule: ScheduleKind; minLearningRate?: number },
): number {
  const { learningRate, warmupSteps, totalSteps, schedule } = options;
  const floor = options.minLearningRate ?? 0;
  if (step < warmupSteps) return (learningRate * step) / Math.max(1, warmupSteps);
  if (schedule === 'constant') return learningRate;
  const progress = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
  const factor = schedule === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * progress)) : 1 - progress;
  return floor + (learningRate - floor) * factor;
}
