/**
 * Group-relative advantages and multi-reward aggregation, as TRL's `GRPOTrainer` computes them
 * (`_generate_and_score_completions`, TRL v1.x), on plain arrays (no tensors).
 *
 * Rows are prompt-major: row = promptIndex * G + g, so group k holds rows [k*G, (k+1)*G).
 *
 * sumThenNormalize (TRL default):
 *   r_i = Σ_k w_k r_ik (NaN terms skipped)                                 [N]
 *   A_i = (r_i − mean_group(r)) / (std_group(r) + 1e-4)   scaleRewards 'group'
 *   A_i = (r_i − mean_group(r)) / (std_batch(r) + 1e-4)   scaleRewards 'batch' (Lite PPO)
 *   A_i =  r_i − mean_group(r)                            scaleRewards 'none'  (Dr. GRPO)
 * normalizeThenSum (GDPO):
 *   r̂_ik = (r_ik − mean_group(r_k)) / (std_group(r_k) + 1e-4)              per function
 *   r_i  = Σ_k w_k r̂_ik (NaN terms skipped)
 *   A_i  = (r_i − mean_batch(r)) / (std_batch(r) + 1e-4)                    (scaleRewards unused)
 * std is the sample std (Bessel's correction), as TRL's `nanstd`.
 *
 * Departures from TRL (each only where TRL would produce NaN or silently bias):
 * - A row whose rewards are all missing (null, NaN, ±Infinity in every function) gets reward NaN:
 *   it is excluded from every mean/std and its advantage is 0. TRL's `nansum` turns it into a
 *   reward of 0 that still enters the group mean.
 * - A group (or batch) with fewer than 2 valid rewards has std 0 (TRL's nanstd gives NaN).
 */
import { GrpoError } from './errors.js';

/** How advantages are scaled after centring on the group mean (TRL `scale_rewards`). */
export type ScaleRewards = 'group' | 'batch' | 'none';

/** How several reward functions are combined (TRL `multi_objective_aggregation`). */
export type RewardAggregation = 'sumThenNormalize' | 'normalizeThenSum';

/** The constant TRL adds to the std before dividing. */
export const ADVANTAGE_EPSILON = 1e-4;

/** Mean of the finite entries of `values` (NaN when there are none). */
export function nanMean(values: ArrayLike<number>): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) {
      sum += v;
      count++;
    }
  }
  return count === 0 ? Number.NaN : sum / count;
}

/**
 * Sample standard deviation (Bessel's correction) of the finite entries of `values`:
 * NaN when there are none, 0 when there is exactly one.
 */
export function nanStd(values: ArrayLike<number>): number {
  const mean = nanMean(values);
  if (Number.isNaN(mean)) return Number.NaN;
  let sq = 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (Number.isFinite(v)) {
      sq += (v - mean) * (v - mean);
      count++;
    }
  }
  return count < 2 ? 0 : Math.sqrt(sq / (count - 1));
}

/** Options of {@link computeAdvantages}. */
export interface AdvantageOptions {
  /** Std used to scale (default: 'group'). */
  scaleRewards?: ScaleRewards;
  /** Added to the std before dividing (default: 1e-4, TRL's value). */
  epsilon?: number;
}

/** Result of {@link computeAdvantages}. */
export interface AdvantageResult {
  /** [N] one advantage per completion (0 where the reward is not finite). */
  advantages: Float64Array;
  /** [N/G] mean reward of each group (NaN when no reward of the group is finite). */
  groupMeans: Float64Array;
  /** [N/G] sample std of each group's rewards. */
  groupStds: Float64Array;
  /** [N] the std each row was divided by, before adding epsilon (NaN when scaleRewards is 'none'). */
  scaleStds: Float64Array;
  /** [N/G] true when a group's rewards have zero spread (its advantages are all 0). */
  zeroStdGroups: boolean[];
}

function checkGroups(length: number, numGenerations: number, what: string): void {
  if (!Number.isInteger(numGenerations) || numGenerations < 1) {
    throw new GrpoError('GRPO_INVALID_ARGUMENT', `numGenerations: expected a positive integer, got ${numGenerations}`);
  }
  if (length % numGenerations !== 0) {
    throw new GrpoError(
      'GRPO_BATCH_NOT_DIVISIBLE',
      `${what}: ${length} values are not divisible into groups of numGenerations=${numGenerations}`,
    );
  }
}

/** True when `std` is zero up to torch.isclose's default atol (1e-8), as TRL's `is_std_zero`. */
export function isZeroStd(std: number): boolean {
  return !(Math.abs(std) > 1e-8);
}

/**
 * Group-relative advantages of rewards `r` [N] (N = numGroups × numGenerations, prompt-major).
 * Pure function: `(r − group mean) / (std + 1e-4)`, std per `scaleRewards`.
 * Non-finite rewards are excluded from the statistics and get advantage 0.
 */
export function computeAdvantages(
  rewards: ArrayLike<number>,
  numGenerations: number,
  options: AdvantageOptions = {},
): AdvantageResult {
  const scale = options.scaleRewards ?? 'group';
  const eps = options.epsilon ?? ADVANTAGE_EPSILON;
  checkGroups(rewards.length, numGenerations, 'rewards');
  const n = rewards.length;
  const numGroups = n / numGenerations;
  const groupMeans = new Float64Array(numGroups);
  const groupStds = new Float64Array(numGroups);
  const zeroStdGroups: boolean[] = [];
  const values = Float64Array.from({ length: n }, (_, i) => rewards[i]!);
  for (let k = 0; k < numGroups; k++) {
    const group = values.subarray(k * numGenerations, (k + 1) * numGenerations);
    groupMeans[k] = nanMean(group);
    groupStds[k] = nanStd(group);
    zeroStdGroups.push(Number.isNaN(groupStds[k]!) || isZeroStd(groupStds[k]!));
  }
  const batchStd = scale === 'batch' ? nanStd(values) : Number.NaN;
  const advantages = new Float64Array(n);
  const scaleStds = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const k = Math.floor(i / numGenerations);
    const r = values[i]!;
    const centred = r - groupMeans[k]!;
    scaleStds[i] = scale === 'group' ? groupStds[k]! : scale === 'batch' ? batchStd : Number.NaN;
    if (!Number.isFinite(r)) {
      advantages[i] = 0;
    } else if (scale === 'none') {
      advantages[i] = centred;
    } else {
      advantages[i] = centred / (scaleStds[i]! + eps);
    }
  }
  return { advantages, groupMeans, groupStds, scaleStds, zeroStdGroups };
}

/** Options of {@link aggregateRewards}. */
export interface AggregateRewardsOptions extends AdvantageOptions {
  /** One weight per reward function (default: all 1). */
  rewardWeights?: readonly number[];
  /** How functions are combined (default: 'sumThenNormalize'). */
  aggregation?: RewardAggregation;
}

/** Result of {@link aggregateRewards}. */
export interface AggregatedRewards extends AdvantageResult {
  /** [N] weighted sum of the raw rewards of each row (NaN when every function skipped the row). */
  rewards: Float64Array;
}

/** Weighted sum over functions of one row, skipping non-finite terms; NaN when all are skipped. */
function weightedNanSum(perFunc: readonly ArrayLike<number>[], weights: readonly number[], i: number): number {
  let sum = 0;
  let any = false;
  for (let k = 0; k < perFunc.length; k++) {
    const v = perFunc[k]![i]!;
    if (Number.isFinite(v)) {
      sum += weights[k]! * v;
      any = true;
    }
  }
  return any ? sum : Number.NaN;
}

/**
 * Combine K reward functions' values (`rewardsPerFunc[k][i]`, NaN = missing) into one reward and
 * one advantage per completion, as TRL's `sum_then_normalize` or GDPO's `normalize_then_sum`.
 */
export function aggregateRewards(
  rewardsPerFunc: readonly ArrayLike<number>[],
  numGenerations: number,
  options: AggregateRewardsOptions = {},
): AggregatedRewards {
  const numFuncs = rewardsPerFunc.length;
  if (numFuncs === 0) throw new GrpoError('GRPO_INVALID_ARGUMENT', 'rewardsPerFunc: expected at least one reward function');
  const n = rewardsPerFunc[0]!.length;
  rewardsPerFunc.forEach((values, k) => {
    if (values.length !== n) {
      throw new GrpoError('GRPO_INVALID_ARGUMENT', `rewardsPerFunc[${k}]: expected ${n} values, got ${values.length}`);
    }
  });
  const weights = options.rewardWeights ?? Array.from({ length: numFuncs }, () => 1);
  if (weights.length !== numFuncs || weights.some((w) => !Number.isFinite(w))) {
    throw new GrpoError(
      'GRPO_INVALID_ARGUMENT',
      `rewardWeights: expected ${numFuncs} finite numbers (one per reward function), got ${JSON.stringify(weights)}`,
    );
  }
  checkGroups(n, numGenerations, 'rewards');
  const rewards = Float64Array.from({ length: n }, (_, i) => weightedNanSum(rewardsPerFunc, weights, i));
  if ((options.aggregation ?? 'sumThenNormalize') === 'sumThenNormalize') {
    return { rewards, ...computeAdvantages(rewards, numGenerations, options) };
  }
  // GDPO: per-function group normalisation, weighted sum, then batch normalisation.
  const eps = options.epsilon ?? ADVANTAGE_EPSILON;
  const funcZeroStd: boolean[][] = [];
  const normalized = rewardsPerFunc.map((values) => {
    const { groupMeans, groupStds, zeroStdGroups } = computeAdvantages(values, numGenerations, {
      scaleRewards: 'group',
      epsilon: eps,
    });
    funcZeroStd.push(zeroStdGroups);
    return Float64Array.from({ length: n }, (_, i) => {
      const k = Math.floor(i / numGenerations);
      const v = values[i]!;
      return Number.isFinite(v) ? (v - groupMeans[k]!) / (groupStds[k]! + eps) : Number.NaN;
    });
  });
  const summed = Float64Array.from({ length: n }, (_, i) => weightedNanSum(normalized, weights, i));
  const mean = nanMean(summed);
  const std = nanStd(summed);
  const advantages = Float64Array.from(summed, (v) => (Number.isFinite(v) ? (v - mean) / (std + eps) : 0));
  // Group statistics describe the raw weighted rewards (for logging); a group has zero spread
  // only when every function has zero spread in it (then GDPO gives it no signal).
  const stats = computeAdvantages(rewards, numGenerations, { scaleRewards: 'group', epsilon: eps });
  return {
    rewards,
    advantages,
    groupMeans: stats.groupMeans,
    groupStds: stats.groupStds,
    scaleStds: new Float64Array(n).fill(std),
    zeroStdGroups: stats.zeroStdGroups.map((_, k) => funcZeroStd.every((z) => z[k]!)),
  };
}
