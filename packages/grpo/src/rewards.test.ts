import { describe, expect, it } from 'vitest';
import { GrpoError, RewardFunctionError } from './errors.js';
import { scoreRewards, softOverlongPunishment, toRewardFunction, type RewardContext } from './rewards.js';

const context = (completionIds: number[][]): RewardContext => ({
  prompts: completionIds.map(() => 'p'),
  completions: completionIds.map((ids) => ids.join(' ')),
  completionIds,
  promptIds: completionIds.map(() => [1]),
  truncated: completionIds.map(() => false),
  records: completionIds.map(() => ({ prompt: 'p' })),
  groupIndices: completionIds.map((_, i) => Math.floor(i / 2)),
  step: 0,
});

describe('scoreRewards', () => {
  it('runs sync and async functions, maps null to NaN and counts NaN/Infinity as invalid', async () => {
    const ctx = context([[1], [2], [3], [4]]);
    const scores = await scoreRewards(
      [
        { name: 'sync', fn: () => [1, null, Number.NaN, Number.POSITIVE_INFINITY] },
        { name: 'async', fn: async () => [0.5, 0.25, undefined, -1] },
      ],
      ctx,
    );
    expect(Array.from(scores.perFunc[0]!).map((v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual([1, 'NaN', 'NaN', 'NaN']);
    expect(scores.nullCounts).toEqual([1, 1]);
    expect(scores.invalidCounts).toEqual([2, 0]);
    expect(Array.from(scores.kinds[0]!)).toEqual([0, 1, 2, 2]);
  });

  it('rejects a wrong number of values with the function name and both counts', async () => {
    const error = await scoreRewards([{ name: 'short', fn: () => [1, 2] }], context([[1], [2], [3]])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RewardFunctionError);
    const e = error as RewardFunctionError;
    expect(e.code).toBe('GRPO_REWARD_FAILED');
    expect(e.message).toBe('reward function "short": expected 3 values (one per completion), got 2');
    expect([e.expected, e.received]).toEqual([3, 2]);
  });

  it('rejects non-numbers and wraps exceptions', async () => {
    await expect(scoreRewards([{ name: 's', fn: () => ['1' as unknown as number] }], context([[1]]))).rejects.toThrowError(
      /value 0: expected a number or null, got string/,
    );
    const error = await scoreRewards(
      [
        {
          name: 'boom',
          fn: () => {
            throw new Error('server down');
          },
        },
      ],
      context([[1]]),
    ).catch((e: unknown) => e);
    expect(GrpoError.isInstance(error)).toBe(true);
    expect((error as Error).message).toMatch(/"boom": threw: server down/);
  });

  it('names bare functions after themselves', () => {
    function lengthReward(): number[] {
      return [];
    }
    expect(toRewardFunction(lengthReward, 0).name).toBe('lengthReward');
    expect(toRewardFunction(() => [], 3).name).toBe('reward_3');
    expect(() => toRewardFunction({ name: '', fn: () => [] }, 1)).toThrowError(/rewardFuncs\[1\]/);
  });
});

describe('softOverlongPunishment (DAPO Eq. 13, golden)', () => {
  it('0 up to Lmax − Lcache, linear to −1 at Lmax, −1 beyond', async () => {
    // Lmax 10, Lcache 4: lengths 6 → 0; 7 → (6 − 7)/4 = −0.25; 10 → −1; 11 → −1
    const reward = softOverlongPunishment(10, 4);
    const ids = [6, 7, 10, 11].map((n) => Array.from({ length: n }, () => 1));
    expect(await reward.fn(context(ids))).toEqual([0, -0.25, -1, -1]);
    expect(reward.name).toBe('soft_overlong_punishment');
    expect(() => softOverlongPunishment(10, 11)).toThrowError(/softPunishCache/);
  });
});
