/**
 * Reward functions: the contract (TRL's `reward_func(prompts, completions, completion_ids, **kwargs)`
 * as one typed object), scoring with validation, and DAPO's soft over-length punishment.
 *
 * A reward function returns one value per completion: a number, or `null`/`undefined` when it
 * does not apply to that sample (TRL's `None`: excluded for that sample). NaN and ±Infinity are
 * treated like `null` and counted (`invalid`), so a broken scorer never poisons the update.
 * Wrong lengths, non-number values and exceptions raise {@link RewardFunctionError}.
 * All functions of a batch run concurrently (`Promise.all`, TRL's `asyncio.gather`).
 */
import { RewardFunctionError, GrpoError } from './errors.js';

/** Everything a reward function sees about one batch (all arrays have one entry per completion). */
export interface RewardContext {
  /** The user prompt of each completion (repeated G times, prompt-major). */
  prompts: string[];
  /** Decoded completion texts. */
  completions: string[];
  /** Completion token ids. */
  completionIds: number[][];
  /** Templated prompt token ids. */
  promptIds: number[][];
  /** True when the completion hit `maxCompletionLength` without EOS. */
  truncated: boolean[];
  /** The dataset record each completion came from (extra columns, like TRL's reward kwargs). */
  records: ReadonlyArray<Readonly<Record<string, unknown>>>;
  /** Index of the prompt group of each completion (0 … B−1). */
  groupIndices: number[];
  /** The trainer step (0-based) this batch is generated for. */
  step: number;
}

/** One value (or null = not applicable) per completion, sync or async. */
export type RewardFn = (
  context: RewardContext,
) => ReadonlyArray<number | null | undefined> | Promise<ReadonlyArray<number | null | undefined>>;

/** A named reward function (the name appears in metrics as `rewards/<name>/mean`). */
export interface RewardFunction {
  /** Metric name, e.g. `clip_relevance`. */
  name: string;
  /** The scorer. */
  fn: RewardFn;
}

/** Scores of one batch by K functions. */
export interface RewardScores {
  /** [K][N] values, NaN where missing (null) or invalid (NaN/±Infinity). */
  perFunc: Float64Array[];
  /** [K] how many values were null/undefined. */
  nullCounts: number[];
  /** [K] how many values were NaN or ±Infinity (excluded). */
  invalidCounts: number[];
  /** [K][N] per value: 0 valid, 1 null/undefined, 2 NaN/±Infinity. */
  kinds: Uint8Array[];
}

/** Turn a bare function into a {@link RewardFunction} (name: the function's own name, else `reward_<i>`). */
export function toRewardFunction(reward: RewardFunction | RewardFn, index: number): RewardFunction {
  if (typeof reward === 'function') {
    return { name: reward.name !== '' ? reward.name : `reward_${index}`, fn: reward };
  }
  if (typeof reward !== 'object' || reward === null || typeof reward.fn !== 'function' || typeof reward.name !== 'string' || reward.name === '') {
    throw new GrpoError('GRPO_INVALID_ARGUMENT', `rewardFuncs[${index}]: expected a function or { name: string, fn: function }`);
  }
  return reward;
}

/** Run every reward function on one batch, validate and collect their values. */
export async function scoreRewards(funcs: readonly RewardFunction[], context: RewardContext): Promise<RewardScores> {
  const n = context.completions.length;
  const results = await Promise.all(
    funcs.map(async (func) => {
      let values: unknown;
      try {
        values = await func.fn(context);
      } catch (error) {
        throw new RewardFunctionError(func.name, `threw: ${error instanceof Error ? error.message : String(error)}`, n, -1, {
          cause: error,
        });
      }
      if (!Array.isArray(values) && !ArrayBuffer.isView(values)) {
        throw new RewardFunctionError(func.name, `expected an array of ${n} values, got ${typeof values}`, n, -1);
      }
      const array = values as ArrayLike<unknown>;
      if (array.length !== n) {
        throw new RewardFunctionError(
          func.name,
          `expected ${n} values (one per completion), got ${array.length}`,
          n,
          array.length,
        );
      }
      const out = new Float64Array(n);
      const kind = new Uint8Array(n);
      let nulls = 0;
      let invalid = 0;
      for (let i = 0; i < n; i++) {
        const v = array[i];
        if (v === null || v === undefined) {
          out[i] = Number.NaN;
          kind[i] = 1;
          nulls++;
        } else if (typeof v !== 'number') {
          throw new RewardFunctionError(func.name, `value ${i}: expected a number or null, got ${typeof v}`, n, n);
        } else if (!Number.isFinite(v)) {
          out[i] = Number.NaN;
          kind[i] = 2;
          invalid++;
        } else {
          out[i] = v;
        }
      }
      return { out, nulls, invalid, kind };
    }),
  );
  return {
    perFunc: results.map((r) => r.out),
    nullCounts: results.map((r) => r.nulls),
    invalidCounts: results.map((r) => r.invalid),
    kinds: results.map((r) => r.kind),
  };
}

/**
 * DAPO's soft over-length punishment (TRL `get_soft_overlong_punishment`), as a reward function:
 * 0 when |y| ≤ Lmax − Lcache; (Lmax − Lcache − |y|) / Lcache when Lmax − Lcache < |y| ≤ Lmax;
 * −1 beyond Lmax, where |y| is the number of completion tokens.
 */
export function softOverlongPunishment(
  maxCompletionLength: number,
  softPunishCache: number,
  name = 'soft_overlong_punishment',
): RewardFunction {
  if (!Number.isInteger(maxCompletionLength) || maxCompletionLength < 1) {
    throw new GrpoError('GRPO_INVALID_ARGUMENT', `maxCompletionLength: expected a positive integer, got ${maxCompletionLength}`);
  }
  if (!Number.isInteger(softPunishCache) || softPunishCache < 1 || softPunishCache > maxCompletionLength) {
    throw new GrpoError(
      'GRPO_INVALID_ARGUMENT',
      `softPunishCache: expected an integer in [1, ${maxCompletionLength}], got ${softPunishCache}`,
    );
  }
  const free = maxCompletionLength - softPunishCache;
  return {
    name,
    fn: ({ completionIds }) =>
      completionIds.map((ids) => {
        const length = ids.length;
        if (length <= free) return 0;
        if (length <= maxCompletionLength) return (free - length) / softPunishCache;
        return -1;
      }),
  };
}
