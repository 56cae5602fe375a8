/**
 * The GRPO objective in TensorFlow.js, following TRL's `GRPOTrainer._compute_loss` (v1.x).
 * Shapes: N completions in the micro-batch, T = longest completion; `mask` [N, T] is 1 on
 * completion tokens (EOS included) and 0 on padding (and on truncated rows when
 * `maskTruncatedCompletions`).
 *
 *   log_ratio = logp − old_logp                                              [N, T]
 *   log_w     = log_ratio                           (importanceSamplingLevel 'token')
 *             = Σ_t log_ratio·mask / max(Σ_t mask, 1)   → [N, 1]      ('sequence', GSPO)
 *   ρ         = exp(log_w);  ρ̄ = clip(ρ, 1 − ε, 1 + ε_high);  ρ ← min(ρ, δ) when δ is set
 *   L_tok     = −min(ρ·A, ρ̄·A) + β·KL_k3,   KL_k3 = exp(ref − logp) − (ref − logp) − 1
 *   loss      = grpo:    mean_i( Σ_t L·mask / max(Σ_t mask, 1) ) / GA
 *               bnpo:    Σ L·mask / max(Σ mask, 1) / GA
 *               dr_grpo: Σ L·mask / (N · maxCompletionLength) / GA
 *               dapo:    Σ L·mask / numItemsInBatch   (loss tokens of the whole generation batch)
 * With μ = 1 the trainer passes old_logp = stopGradient(logp), so ρ ≡ 1 with the right gradient.
 *
 * Departures from TRL: none in the formulas. Loss types cispo/sapo/luspo/vespo, the entropy
 * bonus, top-entropy masking and vLLM importance-sampling correction are not implemented.
 * Clip-ratio metrics use the ratio before the δ cap (TRL computes them after it).
 */
import type * as tf from '@tensorflow/tfjs';
import { GrpoError } from './errors.js';
import type { Tf } from './tf.js';

/** Loss aggregation (TRL `loss_type`). */
export type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';

/** Importance sampling granularity (TRL `importance_sampling_level`; 'sequence' = GSPO). */
export type ImportanceSamplingLevel = 'token' | 'sequence';

/**
 * Identity in the forward pass with a zero gradient (tfjs has no `stopGradient`): PyTorch's
 * `x.detach()` inside a differentiated function.
 */
export function stopGradient<T extends tf.Tensor>(tfm: Tf, x: T): T {
  const f = tfm.customGrad(((input: tf.Tensor) => ({
    value: tfm.clone(input),
    gradFunc: (dy: tf.Tensor) => tfm.zerosLike(dy),
  })) as unknown as Parameters<Tf['customGrad']>[0]);
  return f(x) as T;
}

/** k3 estimator of KL(π_θ‖π_ref) per token: exp(ref − logp) − (ref − logp) − 1 (≥ 0). */
export function k3Kl(tfm: Tf, logProbs: tf.Tensor, refLogProbs: tf.Tensor): tf.Tensor {
  return tfm.tidy(() => {
    const d = tfm.sub(refLogProbs, logProbs);
    return tfm.sub(tfm.sub(tfm.exp(d), d), 1);
  });
}

/**
 * Log importance weights: [N, T] per token, or [N, 1] (mean masked log-ratio per sequence,
 * GSPO) when `level` is 'sequence'.
 */
export function importanceLogWeights(
  tfm: Tf,
  logProbs: tf.Tensor2D,
  oldLogProbs: tf.Tensor2D,
  mask: tf.Tensor2D,
  level: ImportanceSamplingLevel,
): tf.Tensor2D {
  return tfm.tidy(() => {
    const logRatio = tfm.sub(logProbs, oldLogProbs) as tf.Tensor2D;
    if (level === 'token') return logRatio;
    const num = tfm.sum(tfm.mul(logRatio, mask), -1, true);
    const den = tfm.maximum(tfm.sum(mask, -1, true), 1);
    return tfm.div(num, den) as tf.Tensor2D;
  });
}

/** Clipping parameters of {@link clippedSurrogate}. */
export interface ClipOptions {
  /** Lower clip ε: ratio floor 1 − ε (TRL default 0.2). */
  epsilon: number;
  /** Upper clip ε_high: ratio ceiling 1 + ε_high (defaults to ε). */
  epsilonHigh?: number;
  /** Two-sided clipping cap δ on the unclipped ratio (INTELLECT-2; off when undefined). */
  delta?: number;
}

/**
 * Per-token clipped surrogate loss −min(ρ·A, clip(ρ, 1−ε, 1+ε_high)·A), with ρ = min(ρ, δ) in the
 * first term when δ is set. `ratio` is [N, T] or [N, 1]; `advantages` is [N]. Returns ratio's shape.
 */
export function clippedSurrogate(tfm: Tf, ratio: tf.Tensor2D, advantages: tf.Tensor1D, options: ClipOptions): tf.Tensor2D {
  return tfm.tidy(() => {
    const epsHigh = options.epsilonHigh ?? options.epsilon;
    const a = tfm.expandDims(advantages, 1);
    const clipped = tfm.clipByValue(ratio, 1 - options.epsilon, 1 + epsHigh);
    const unclipped = options.delta === undefined ? ratio : tfm.minimum(ratio, options.delta);
    return tfm.neg(tfm.minimum(tfm.mul(unclipped, a), tfm.mul(clipped, a))) as tf.Tensor2D;
  });
}

/** Normalisation inputs of {@link aggregateLoss}. */
export interface AggregateLossOptions {
  /** Aggregation rule. */
  lossType: LossType;
  /** Micro-batches per optimizer step (grpo/bnpo/dr_grpo divide by it; default: 1). */
  gradientAccumulationSteps?: number;
  /** dr_grpo's constant length L (required for dr_grpo). */
  maxCompletionLength?: number;
  /** dapo's normaliser: loss tokens in the whole generation batch (required for dapo). */
  numItemsInBatch?: number;
}

/** Aggregate a per-token loss [N, T] (or [N, 1], broadcast) with the mask [N, T] into a scalar. */
export function aggregateLoss(tfm: Tf, perTokenLoss: tf.Tensor2D, mask: tf.Tensor2D, options: AggregateLossOptions): tf.Scalar {
  return tfm.tidy(() => {
    const ga = options.gradientAccumulationSteps ?? 1;
    const masked = tfm.mul(perTokenLoss, mask);
    switch (options.lossType) {
      case 'grpo': {
        const perSeq = tfm.div(tfm.sum(masked, -1), tfm.maximum(tfm.sum(mask, -1), 1));
        return tfm.div(tfm.mean(perSeq), ga) as tf.Scalar;
      }
      case 'bnpo':
        return tfm.div(tfm.div(tfm.sum(masked), tfm.maximum(tfm.sum(mask), 1)), ga) as tf.Scalar;
      case 'dr_grpo': {
        const length = options.maxCompletionLength;
        if (length === undefined) throw new GrpoError('GRPO_INVALID_ARGUMENT', 'aggregateLoss: dr_grpo needs maxCompletionLength');
        return tfm.div(tfm.sum(masked), mask.shape[0] * length * ga) as tf.Scalar;
      }
      case 'dapo': {
        const items = options.numItemsInBatch;
        if (items === undefined) throw new GrpoError('GRPO_INVALID_ARGUMENT', 'aggregateLoss: dapo needs numItemsInBatch');
        return tfm.div(tfm.sum(masked), Math.max(items, 1)) as tf.Scalar;
      }
    }
  });
}

/** Inputs of {@link grpoLoss} for one micro-batch. */
export interface GrpoLossInputs {
  /** [N, T] current log-probs (differentiable). */
  logProbs: tf.Tensor2D;
  /** [N, T] log-probs at sampling time; undefined → stopGradient(logProbs) (on-policy, μ = 1). */
  oldLogProbs?: tf.Tensor2D;
  /** [N, T] reference-model log-probs (needed when beta ≠ 0). */
  refLogProbs?: tf.Tensor2D;
  /** [N] one advantage per completion. */
  advantages: tf.Tensor1D;
  /** [N, T] 1 on loss tokens. */
  mask: tf.Tensor2D;
}

/** Hyper-parameters of {@link grpoLoss}. */
export interface GrpoLossOptions extends ClipOptions, AggregateLossOptions {
  /** KL coefficient β (0 = no KL term). */
  beta: number;
  /** Token- or sequence-level importance sampling (default: 'token'). */
  importanceSamplingLevel?: ImportanceSamplingLevel;
}

/** The loss and its diagnostics (scalars; masked means like TRL's `masked_batch_mean`). */
export interface GrpoLossOutput {
  /** Scalar loss to differentiate. */
  loss: tf.Scalar;
  /** Mean k3 KL over loss tokens (undefined when beta = 0). */
  kl?: tf.Scalar;
  /** Fraction of tokens with ρ < 1−ε and A < 0. */
  clipLow: tf.Scalar;
  /** Fraction of tokens with ρ > 1+ε_high and A > 0. */
  clipHigh: tf.Scalar;
  /** Fraction of tokens in either clipped region. */
  clipRegion: tf.Scalar;
}

/** The full GRPO loss of one micro-batch (see the file header for the formulas). */
export function grpoLoss(tfm: Tf, inputs: GrpoLossInputs, options: GrpoLossOptions): GrpoLossOutput {
  const level = options.importanceSamplingLevel ?? 'token';
  const { logProbs, mask, advantages } = inputs;
  const maskedMean = (x: tf.Tensor): tf.Scalar =>
    (x.shape[1] === 1 ? tfm.mean(x) : tfm.div(tfm.sum(tfm.mul(x, mask)), tfm.maximum(tfm.sum(mask), 1))) as tf.Scalar;
  const result = tfm.tidy(() => {
    const old = inputs.oldLogProbs ?? stopGradient(tfm, logProbs);
    const logW = importanceLogWeights(tfm, logProbs, old as tf.Tensor2D, mask, level);
    const ratio = tfm.exp(logW) as tf.Tensor2D;
    let perToken = clippedSurrogate(tfm, ratio, advantages, options);
    if (perToken.shape[1] !== mask.shape[1]) perToken = tfm.mul(perToken, tfm.onesLike(mask)) as tf.Tensor2D;
    let kl: tf.Scalar | undefined;
    if (options.beta !== 0) {
      if (inputs.refLogProbs === undefined) throw new GrpoError('GRPO_INVALID_ARGUMENT', 'grpoLoss: beta ≠ 0 needs refLogProbs');
      const perTokenKl = k3Kl(tfm, logProbs, inputs.refLogProbs);
      perToken = tfm.add(perToken, tfm.mul(perTokenKl, options.beta)) as tf.Tensor2D;
      kl = stopGradient(tfm, maskedMean(perTokenKl)) as tf.Scalar;
    }
    const loss = aggregateLoss(tfm, perToken, mask, options);
    const r = stopGradient(tfm, ratio);
    const a = tfm.expandDims(advantages, 1);
    const epsHigh = options.epsilonHigh ?? options.epsilon;
    const low = tfm.cast(tfm.logicalAnd(tfm.less(r, 1 - options.epsilon), tfm.less(a, 0)), 'float32');
    const high = tfm.cast(tfm.logicalAnd(tfm.greater(r, 1 + epsHigh), tfm.greater(a, 0)), 'float32');
    const region = tfm.maximum(low, high);
    return {
      loss,
      ...(kl === undefined ? {} : { kl }),
      clipLow: maskedMean(low),
      clipHigh: maskedMean(high),
      clipRegion: maskedMean(region),
    };
  });
  return result;
}
