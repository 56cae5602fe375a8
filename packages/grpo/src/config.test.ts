import { describe, expect, it } from 'vitest';
import { resolveGrpoConfig } from './config.js';
import { GrpoError } from './errors.js';

const codeOf = (f: () => unknown): string | undefined => {
  try {
    f();
  } catch (error) {
    return GrpoError.isInstance(error) ? error.code : 'not a GrpoError';
  }
  return undefined;
};

describe('resolveGrpoConfig', () => {
  it("fills TRL's defaults", () => {
    const c = resolveGrpoConfig();
    expect(c).toMatchObject({
      numGenerations: 8,
      beta: 0,
      epsilon: 0.2,
      lossType: 'dapo',
      scaleRewards: 'group',
      learningRate: 1e-6,
      numIterations: 1,
      temperature: 1,
      multiObjectiveAggregation: 'sumThenNormalize',
      importanceSamplingLevel: 'token',
      refModelMixupAlpha: 0.6,
      refModelSyncSteps: 512,
      maxGradNorm: 1,
    });
    expect(c.epsilonHigh).toBeUndefined();
  });

  it('rejects unknown keys and numGenerations < 2 with the key path', () => {
    expect(() => resolveGrpoConfig({ numGeneration: 4 } as never)).toThrowError(/numGeneration/);
    expect(() => resolveGrpoConfig({ numGenerations: 1 })).toThrowError(/numGenerations: .*at least 2/);
    expect(codeOf(() => resolveGrpoConfig({ lossType: 'ppo' as never }))).toBe('GRPO_INVALID_CONFIG');
  });

  it("points AdamW's hyper-parameters to the policy engine", () => {
    expect(() => resolveGrpoConfig({ adamBeta1: 0.8 } as never)).toThrowError(/adamBeta1: AdamW's hyper-parameters belong to the policy engine/);
  });

  it('checks batch divisibility with a clear message', () => {
    expect(() => resolveGrpoConfig({ numGenerations: 4, generationBatchSize: 6 })).toThrowError(
      'generationBatchSize (6) must be divisible by numGenerations (4): each prompt is sampled numGenerations times; valid generationBatchSize values are multiples of 4, e.g. 8',
    );
    expect(codeOf(() => resolveGrpoConfig({ numGenerations: 2, generationBatchSize: 6, gradientAccumulationSteps: 4 }))).toBe(
      'GRPO_BATCH_NOT_DIVISIBLE',
    );
  });

  it('checks the number of reward weights', () => {
    expect(() => resolveGrpoConfig({ rewardWeights: [1, 2] }, 3)).toThrowError(/expected 3 weights/);
  });
});
