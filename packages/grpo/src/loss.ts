/**
 * The GRPO objective of one micro-batch, following TRL's `GRPOTrainer._compute_loss` (v1.x), as
 * a forward value and its analytic gradient with respect to every per-token log-prob, in plain
 * TypeScript on ragged per-row arrays (row i has Lc_i = completionIds[i].length values). A policy
 * engine turns the gradient into parameter gradients (`PolicyEngine#backward`).
 *
 * Shapes: N rows; logp, old, ref, mask are [N][Lc_i]; A is [N]. mask is 1 on loss tokens and 0
 * elsewhere (the trainer zeroes truncated rows under `maskTruncatedCompletions`).
 *
 *   log_ratio = logp − old                                                   [N][Lc_i]
 *   log_w     = log_ratio                                (importanceSamplingLevel 'token')
 *             = Σ_t log_ratio·mask / max(Σ_t mask, 1)    → one per row  ('sequence', GSPO)
 *   ρ         = exp(log_w);  ρ̄ = clip(ρ, 1 − ε, 1 + ε_high);  ρ_δ = min(ρ, δ) when δ is set, else ρ
 *   L_tok     = −min(ρ_δ·A, ρ̄·A) + β·KL_k3,   KL_k3 = exp(ref − logp) − (ref − logp) − 1
 *   loss      = Σ_i Σ_t w_it · L_tok,it  with aggregation weights w (all ∝ mask):
 *               grpo:    w = mask / max(Σ_t mask, 1) / N / GA      (mean of per-sequence means)
 *               bnpo:    w = mask / max(Σ mask, 1) / GA            (token mean of the micro-batch)
 *               dr_grpo: w = mask / (N · maxCompletionLength) / GA
 *               dapo:    w = mask / max(numItemsInBatch, 1)        (loss tokens of the generation batch)
 * Without old log-probs (μ = 1, on-policy) old = stop_gradient(logp): ρ ≡ 1 with dρ/dlogp = ρ.
 *
 * Gradient (what autograd computes in TRL's PyTorch code, written out):
 *   d(−min(x, y)) with x = ρ_δ·A, y = ρ̄·A goes to x where x < y, to y where x > y, and half to
 *   each on ties (PyTorch's `minimum` backward; ties are the usual case, ρ inside the clip range);
 *   dρ_δ/dρ = [ρ ≤ δ], dρ̄/dρ = [1 − ε ≤ ρ ≤ 1 + ε_high] (clamp backward, inclusive); dρ/dlog_w = ρ;
 *   dlog_w/dlogp_t = 1 (token) or mask_t / max(Σ mask, 1) (sequence; the row's loss is
 *   Σ_t w_t · L_row); dKL/dlogp = 1 − exp(ref − logp).
 *
 * Arithmetic is float64; gradients are returned as float32 (what engines consume).
 * Departures from TRL: none in the formulas. Loss types cispo/sapo/luspo/vespo, the entropy
 * bonus, top-entropy masking and vLLM importance-sampling correction are not implemented.
 * Clip-ratio metrics use the ratio before the δ cap (TRL computes them after it).
 */
import { GrpoError } from './errors.js';

/** Loss aggregation (TRL `loss_type`). */
export type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo';

/** Importance sampling granularity (TRL `importance_sampling_level`; 'sequence' = GSPO). */
export type ImportanceSamplingLevel = 'token' | 'sequence';

/** Ragged per-row values: row i holds one number per completion token. */
export type Rows = readonly ArrayLike<number>[];

/** k3 estimator of KL(π_θ‖π_ref) for one token: exp(ref − logp) − (ref − logp) − 1 (≥ 0). */
export function k3Kl(logProb: number, refLogProb: number): number {
  const d = refLogProb - logProb;
  return Math.exp(d) - d - 1;
}

/** d k3Kl / d logProb = 1 − exp(ref − logp). */
export function k3KlGrad(logProb: number, refLogProb: number): number {
  return 1 - Math.exp(refLogProb - logProb);
}

/**
 * Log importance weights: per token (`level` 'token', row i has Lc_i values) or one per row
 * (mean masked log-ratio, GSPO; row i has 1 value) when `level` is 'sequence'.
 */
export function importanceLogWeights(logProbs: Rows, oldLogProbs: Rows, mask: Rows, level: ImportanceSamplingLevel): Float64Array[] {
  return logProbs.map((lp, i) => {
    const old = oldLogProbs[i]!;
    const m = mask[i]!;
    if (level === 'token') return Float64Array.from({ length: lp.length }, (_, t) => lp[t]! - old[t]!);
    let num = 0;
    let den = 0;
    for (let t = 0; t < lp.length; t++) {
      num += (lp[t]! - old[t]!) * m[t]!;
      den += m[t]!;
    }
    return Float64Array.of(num / Math.max(den, 1));
  });
}

/** Clipping parameters of {@link clippedSurrogate}. */
export interface ClipOptions {
  /** Lower clip ε: ratio floor 1 − ε (TRL default 0.2). */
  epsilon: number;
  /** Upper clip ε_high: ratio ceiling 1 + ε_high (default: ε). */
  epsilonHigh?: number;
  /** Two-sided clipping cap δ on the unclipped ratio (INTELLECT-2; default: off). */
  delta?: number;
}

/**
 * Clipped surrogate loss of one token (or sequence) −min(ρ_δ·A, clip(ρ, 1−ε, 1+ε_high)·A) and its
 * derivative with respect to ρ (see the file header for the tie and boundary rules).
 */
export function clippedSurrogate(ratio: number, advantage: number, options: ClipOptions): { value: number; dRatio: number } {
  const low = 1 - options.epsilon;
  const high = 1 + (options.epsilonHigh ?? options.epsilon);
  const capped = options.delta !== undefined && ratio > options.delta;
  const unclipped = capped ? options.delta! : ratio;
  const clipped = Math.min(Math.max(ratio, low), high);
  const x = unclipped * advantage;
  const y = clipped * advantage;
  const dx = capped ? 0 : advantage;
  const dy = ratio >= low && ratio <= high ? advantage : 0;
  const dRatio = x < y ? -dx : x > y ? -dy : -(dx + dy) / 2;
  return { value: -Math.min(x, y), dRatio: dRatio || 0 }; // || 0: no −0
}

/** Normalisation inputs of {@link aggregationWeights} and {@link aggregateLoss}. */
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

/** Per-token weights w [N][Lc_i] of the aggregation: loss = Σ w · L_tok (see the file header). */
export function aggregationWeights(mask: Rows, options: AggregateLossOptions): Float64Array[] {
  const ga = options.gradientAccumulationSteps ?? 1;
  const n = mask.length;
  const rowSum = (m: ArrayLike<number>): number => {
    let s = 0;
    for (let t = 0; t < m.length; t++) s += m[t]!;
    return s;
  };
  let scale: (i: number) => number;
  switch (options.lossType) {
    case 'grpo':
      scale = (i) => 1 / (Math.max(rowSum(mask[i]!), 1) * n * ga);
      break;
    case 'bnpo': {
      const total = mask.reduce((s, m) => s + rowSum(m), 0);
      scale = () => 1 / (Math.max(total, 1) * ga);
      break;
    }
    case 'dr_grpo': {
      const length = options.maxCompletionLength;
      if (length === undefined) throw new GrpoError('GRPO_INVALID_ARGUMENT', 'aggregateLoss: dr_grpo needs maxCompletionLength');
      scale = () => 1 / (n * length * ga);
      break;
    }
    case 'dapo': {
      const items = options.numItemsInBatch;
      if (items === undefined) throw new GrpoError('GRPO_INVALID_ARGUMENT', 'aggregateLoss: dapo needs numItemsInBatch');
      scale = () => 1 / Math.max(items, 1);
      break;
    }
  }
  return mask.map((m, i) => {
    const s = scale(i);
    return Float64Array.from({ length: m.length }, (_, t) => m[t]! * s);
  });
}

/** Aggregate a per-token loss [N][Lc_i] with the mask [N][Lc_i] into a scalar (see the file header). */
export function aggregateLoss(perTokenLoss: Rows, mask: Rows, options: AggregateLossOptions): number {
  const weights = aggregationWeights(mask, options);
  let loss = 0;
  weights.forEach((w, i) => {
    const l = perTokenLoss[i]!;
    for (let t = 0; t < w.length; t++) if (w[t] !== 0) loss += w[t]! * l[t]!;
  });
  return loss;
}

/** Inputs of {@link grpoLoss} for one micro-batch (ragged rows, row i of length Lc_i). */
export interface GrpoLossInputs {
  /** [N][Lc_i] current log-probs (from `PolicyEngine#forwardTrain`). */
  logProbs: Rows;
  /** [N][Lc_i] log-probs at sampling time; undefined → stop_gradient(logProbs) (on-policy, μ = 1). */
  oldLogProbs?: Rows;
  /** [N][Lc_i] reference-model log-probs (needed when beta ≠ 0). */
  refLogProbs?: Rows;
  /** [N] one advantage per row. */
  advantages: ArrayLike<number>;
  /** [N][Lc_i] 1 on loss tokens (default: every completion token). */
  mask?: Rows;
}

/** Hyper-parameters of {@link grpoLoss}. */
export interface GrpoLossOptions extends ClipOptions, AggregateLossOptions {
  /** KL coefficient β (0 = no KL term). */
  beta: number;
  /** Token- or sequence-level importance sampling (default: 'token'). */
  importanceSamplingLevel?: ImportanceSamplingLevel;
}

/** The loss, its gradient and its diagnostics (masked means like TRL's `masked_batch_mean`). */
export interface GrpoLossOutput {
  /** The scalar loss. */
  loss: number;
  /** [N][Lc_i] dLoss/dlogProbs, for `PolicyEngine#backward`. */
  gradLogProbs: Float32Array[];
  /** Mean k3 KL over loss tokens (undefined when beta = 0). */
  kl?: number;
  /** Fraction of tokens (rows, at sequence level) with ρ < 1−ε and A < 0. */
  clipLow: number;
  /** Fraction of tokens (rows, at sequence level) with ρ > 1+ε_high and A > 0. */
  clipHigh: number;
  /** Fraction in either clipped region. */
  clipRegion: number;
}

function checkRows(name: string, rows: Rows | undefined, lengths: readonly number[]): void {
  if (rows === undefined) return;
  if (rows.length !== lengths.length) {
    throw new GrpoError('GRPO_INVALID_ARGUMENT', `grpoLoss: ${name} has ${rows.length} rows, logProbs ${lengths.length}`);
  }
  rows.forEach((row, i) => {
    if (row.length !== lengths[i]) {
      throw new GrpoError('GRPO_INVALID_ARGUMENT', `grpoLoss: ${name}[${i}] has ${row.length} values, logProbs[${i}] ${lengths[i]}`);
    }
  });
}

/** The full GRPO loss of one micro-batch and its gradient per log-prob (see the file header). */
export function grpoLoss(inputs: GrpoLossInputs, options: GrpoLossOptions): GrpoLossOutput {
  const level = options.importanceSamplingLevel ?? 'token';
  const { logProbs, advantages } = inputs;
  const n = logProbs.length;
  const lengths = logProbs.map((row) => row.length);
  if (advantages.length !== n) throw new GrpoError('GRPO_INVALID_ARGUMENT', `grpoLoss: ${advantages.length} advantages for ${n} rows`);
  checkRows('oldLogProbs', inputs.oldLogProbs, lengths);
  checkRows('refLogProbs', inputs.refLogProbs, lengths);
  checkRows('mask', inputs.mask, lengths);
  if (options.beta !== 0 && inputs.refLogProbs === undefined) {
    throw new GrpoError('GRPO_INVALID_ARGUMENT', 'grpoLoss: beta ≠ 0 needs refLogProbs');
  }
  const mask: Rows = inputs.mask ?? lengths.map((length) => new Float32Array(length).fill(1));
  const weights = aggregationWeights(mask, options);
  const epsHigh = options.epsilonHigh ?? options.epsilon;
  const isLow = (ratio: number, a: number): boolean => ratio < 1 - options.epsilon && a < 0;
  const isHigh = (ratio: number, a: number): boolean => ratio > 1 + epsHigh && a > 0;

  let loss = 0;
  let maskTotal = 0;
  let klSum = 0;
  let low = 0;
  let high = 0;
  let region = 0;
  const gradLogProbs = logProbs.map((lp, i) => {
    const old = inputs.oldLogProbs?.[i] ?? lp;
    const m = mask[i]!;
    const w = weights[i]!;
    const a = advantages[i]!;
    const grad = new Float64Array(lp.length);
    let rowMask = 0;
    for (let t = 0; t < lp.length; t++) rowMask += m[t]!;
    maskTotal += rowMask;
    if (level === 'sequence') {
      const den = Math.max(rowMask, 1);
      let logW = 0;
      let wSum = 0;
      for (let t = 0; t < lp.length; t++) {
        logW += (lp[t]! - old[t]!) * m[t]!;
        wSum += w[t]!;
      }
      logW /= den;
      const ratio = Math.exp(logW);
      const { value, dRatio } = clippedSurrogate(ratio, a, options);
      loss += value * wSum;
      const dLogW = dRatio * ratio * wSum;
      for (let t = 0; t < lp.length; t++) grad[t] = (dLogW * m[t]!) / den;
      const l = isLow(ratio, a);
      const h = isHigh(ratio, a);
      low += Number(l);
      high += Number(h);
      region += Number(l || h);
    } else {
      for (let t = 0; t < lp.length; t++) {
        const ratio = Math.exp(lp[t]! - old[t]!);
        const { value, dRatio } = clippedSurrogate(ratio, a, options);
        if (w[t] !== 0) {
          loss += w[t]! * value;
          grad[t] = w[t]! * dRatio * ratio;
        }
        const l = isLow(ratio, a);
        const h = isHigh(ratio, a);
        low += Number(l) * m[t]!;
        high += Number(h) * m[t]!;
        region += Number(l || h) * m[t]!;
      }
    }
    if (options.beta !== 0) {
      const ref = inputs.refLogProbs![i]!;
      for (let t = 0; t < lp.length; t++) {
        const kl = k3Kl(lp[t]!, ref[t]!);
        klSum += kl * m[t]!;
        if (w[t] !== 0) {
          loss += w[t]! * options.beta * kl;
          grad[t] = grad[t]! + w[t]! * options.beta * k3KlGrad(lp[t]!, ref[t]!);
        }
      }
    }
    return Float32Array.from(grad);
  });
  const tokenMean = (sum: number): number => sum / Math.max(maskTotal, 1);
  const clipMean = (sum: number): number => (level === 'sequence' ? (n === 0 ? 0 : sum / n) : tokenMean(sum));
  return {
    loss,
    gradLogProbs,
    ...(options.beta === 0 ? {} : { kl: tokenMean(klSum) }),
    clipLow: clipMean(low),
    clipHigh: clipMean(high),
    clipRegion: clipMean(region),
  };
}
