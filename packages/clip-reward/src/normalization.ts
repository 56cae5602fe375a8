/**
 * Per-component normalisation of reward values, applied before weighting.
 *
 * - `none`:   y = x
 * - `affine`: y = scale·x + shift (e.g. PickScore/26 as Flow-GRPO, ImageReward/2 as RePrompt)
 * - `zscore`: running standardisation with Welford's online mean/variance:
 *             for each new x: n += 1; δ = x − μ; μ += δ/n; M2 += δ·(x − μ)
 *             σ = sqrt(M2/n) (population), y = (x − μ)/(σ + ε).
 *             A batch first updates the statistics with all of its values, then is standardised
 *             with the updated μ, σ (as `RunningMeanStd` in stable-baselines does), unless updating
 *             is switched off (evaluation). Fewer than `minCount` values seen: y = x − μ.
 *             Its state (n, μ, M2) can be saved and restored so resumed runs continue exactly.
 * - `clip`:   y = min(max(x, min), max)
 * A list of specs is applied left to right (e.g. z-score then clip to [−3, 3]).
 */
import { ClipRewardError } from './errors.js';

/** One normalisation step. */
export type NormalizationSpec =
  | { type: 'none' }
  | {
      type: 'affine';
      /** Multiplier (default: 1). */
      scale?: number;
      /** Added after scaling (default: 0). */
      shift?: number;
    }
  | {
      type: 'zscore';
      /** Added to σ before dividing (default: 1e-8). */
      epsilon?: number;
      /** Values needed before dividing by σ (default: 2). */
      minCount?: number;
    }
  | {
      type: 'clip';
      /** Lower bound (default: −Infinity). */
      min?: number;
      /** Upper bound (default: +Infinity). */
      max?: number;
    };

/** Saved state of one normalisation step (only `zscore` carries statistics). */
export type NormalizerState = { type: 'none' | 'affine' | 'clip' } | { type: 'zscore'; count: number; mean: number; m2: number };

/** Running mean and variance (Welford). */
export class RunningStats {
  /** Number of values seen. */
  count = 0;
  /** Mean of the values seen. */
  mean = 0;
  /** Sum of squared deviations from the mean. */
  m2 = 0;

  /** Add one value. */
  push(x: number): void {
    this.count++;
    const delta = x - this.mean;
    this.mean += delta / this.count;
    this.m2 += delta * (x - this.mean);
  }

  /** Population standard deviation (0 with fewer than 2 values). */
  get std(): number {
    return this.count < 2 ? 0 : Math.sqrt(this.m2 / this.count);
  }
}

/** A stateful chain of normalisation steps. */
export class Normalizer {
  /** The steps, as given. */
  readonly specs: readonly NormalizationSpec[];
  private readonly stats: (RunningStats | undefined)[];

  constructor(spec: NormalizationSpec | readonly NormalizationSpec[] = { type: 'none' }, what = 'normalize') {
    this.specs = Array.isArray(spec) ? [...spec] : [spec as NormalizationSpec];
    for (const [i, s] of this.specs.entries()) validateSpec(s, `${what}[${i}]`);
    this.stats = this.specs.map((s) => (s.type === 'zscore' ? new RunningStats() : undefined));
  }

  /**
   * Normalise a batch of values. With `update` (default: true) running statistics first absorb the
   * batch. Non-finite inputs pass through unchanged and do not update statistics.
   */
  apply(values: readonly number[], update = true): number[] {
    let out = [...values];
    for (const [i, spec] of this.specs.entries()) {
      switch (spec.type) {
        case 'none':
          break;
        case 'affine': {
          const scale = spec.scale ?? 1;
          const shift = spec.shift ?? 0;
          out = out.map((x) => scale * x + shift);
          break;
        }
        case 'clip': {
          const lo = spec.min ?? Number.NEGATIVE_INFINITY;
          const hi = spec.max ?? Number.POSITIVE_INFINITY;
          out = out.map((x) => (Number.isNaN(x) ? x : Math.min(hi, Math.max(lo, x))));
          break;
        }
        case 'zscore': {
          const stats = this.stats[i]!;
          if (update) for (const x of out) if (Number.isFinite(x)) stats.push(x);
          const eps = spec.epsilon ?? 1e-8;
          const minCount = spec.minCount ?? 2;
          const mean = stats.mean;
          const denom = stats.count >= minCount ? stats.std + eps : 1;
          out = out.map((x) => (Number.isFinite(x) ? (x - mean) / denom : x));
          break;
        }
      }
    }
    return out;
  }

  /** Snapshot of every step's state (JSON-serialisable). */
  getState(): NormalizerState[] {
    return this.specs.map((spec, i) => {
      const stats = this.stats[i];
      return stats ? { type: 'zscore' as const, count: stats.count, mean: stats.mean, m2: stats.m2 } : { type: spec.type as 'none' | 'affine' | 'clip' };
    });
  }

  /** Restore a snapshot from {@link Normalizer.getState}; the step types must match. */
  setState(state: readonly NormalizerState[], what = 'normalizer state'): void {
    if (state.length !== this.specs.length) {
      throw new ClipRewardError('CLIP_INVALID_CONFIG', `${what}: ${state.length} step(s) saved but ${this.specs.length} configured`);
    }
    for (const [i, s] of state.entries()) {
      if (s.type !== this.specs[i]!.type) {
        throw new ClipRewardError('CLIP_INVALID_CONFIG', `${what}[${i}]: saved type ${s.type} but configured ${this.specs[i]!.type}`);
      }
      if (s.type === 'zscore') {
        if (!(Number.isInteger(s.count) && s.count >= 0 && Number.isFinite(s.mean) && Number.isFinite(s.m2) && s.m2 >= 0)) {
          throw new ClipRewardError('CLIP_INVALID_CONFIG', `${what}[${i}]: count, mean, m2 must be finite (count ≥ 0, m2 ≥ 0)`);
        }
        const stats = this.stats[i]!;
        stats.count = s.count;
        stats.mean = s.mean;
        stats.m2 = s.m2;
      }
    }
  }

  /** Forget running statistics. */
  reset(): void {
    for (const s of this.stats) {
      if (s) {
        s.count = 0;
        s.mean = 0;
        s.m2 = 0;
      }
    }
  }
}

function validateSpec(spec: NormalizationSpec, what: string): void {
  const bad = (msg: string): never => {
    throw new ClipRewardError('CLIP_INVALID_CONFIG', `${what}: ${msg}`);
  };
  if (typeof spec !== 'object' || spec === null) bad('expected an object with a type');
  const allowed: Record<string, string[]> = {
    none: ['type'],
    affine: ['type', 'scale', 'shift'],
    zscore: ['type', 'epsilon', 'minCount'],
    clip: ['type', 'min', 'max'],
  };
  const keys = allowed[spec.type];
  if (!keys) bad(`unknown type ${JSON.stringify((spec as { type: unknown }).type)} (expected none, affine, zscore or clip)`);
  for (const [k, v] of Object.entries(spec)) {
    if (!keys!.includes(k)) bad(`unknown key "${k}" for type ${spec.type}`);
    if (k !== 'type' && (typeof v !== 'number' || Number.isNaN(v))) bad(`${k} must be a number`);
  }
  if (spec.type === 'clip' && (spec.min ?? -Infinity) > (spec.max ?? Infinity)) bad(`min ${spec.min} > max ${spec.max}`);
  if (spec.type === 'zscore' && (spec.epsilon ?? 0) < 0) bad('epsilon must be ≥ 0');
}
