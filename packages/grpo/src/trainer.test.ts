import { afterEach, describe, expect, it } from 'vitest';
import { BigramEngine, EOS } from './__fixtures__/bigram-engine.js';
import type { GRPOConfigInput } from './config.js';
import { GrpoError } from './errors.js';
import { softOverlongPunishment, type RewardFunction } from './rewards.js';
import { decodeTrainerState, encodeTrainerState } from './state.js';
import { GRPOTrainer } from './trainer.js';

const V = 10;
const TARGET = new Set([1, 2, 3]);
const prompts = ['cat', 'dog', 'a red car', 'moon', 'tree', 'sea', 'old man', 'city'];

/** Fraction of completion tokens (EOS excluded) in the target set; 0 for an empty completion. */
const targetFraction: RewardFunction = {
  name: 'target_fraction',
  fn: ({ completionIds }) =>
    completionIds.map((ids) => {
      const body = ids.filter((t) => t !== EOS);
      return body.length === 0 ? 0 : body.filter((t) => TARGET.has(t)).length / body.length;
    }),
};

const owned: { dispose(): void }[] = [];
afterEach(() => {
  for (const x of owned.splice(0)) x.dispose();
});

async function makeTrainer(
  config: GRPOConfigInput,
  rewardFuncs: RewardFunction[] = [targetFraction],
  seed = 1,
): Promise<{ trainer: GRPOTrainer; policy: BigramEngine }> {
  const policy = BigramEngine.random(V, seed, 0.5);
  const trainer = await GRPOTrainer.create({ policy, rewardFuncs, dataset: prompts, config });
  owned.push(trainer, policy);
  return { trainer, policy };
}

const small: GRPOConfigInput = {
  numGenerations: 4,
  generationBatchSize: 8,
  maxCompletionLength: 6,
  learningRate: 0.05,
  lrSchedulerType: 'constant',
  maxSteps: 20,
};

const weightsOf = (policy: BigramEngine): number[][] => policy.weights();

describe('GRPOTrainer: metrics and bookkeeping', () => {
  it('logs every TRL-named metric, finite, and moves the weights', async () => {
    const { trainer, policy } = await makeTrainer({ ...small, beta: 0.04 });
    const before = weightsOf(policy);
    const m = await trainer.trainStep();
    for (const key of [
      'reward',
      'reward_std',
      'rewards/target_fraction/mean',
      'rewards/target_fraction/std',
      'frac_reward_zero_std',
      'kl',
      'clip_ratio/low_mean',
      'clip_ratio/high_mean',
      'clip_ratio/region_mean',
      'entropy',
      'completions/mean_length',
      'completions/min_length',
      'completions/max_length',
      'completions/clipped_ratio',
      'loss',
      'grad_norm',
      'learning_rate',
      'step_time',
      'num_tokens',
    ]) {
      expect(m[key], key).toBeTypeOf('number');
      expect(Number.isFinite(m[key]), key).toBe(true);
    }
    expect(m['learning_rate']).toBe(0.05);
    expect(m['kl']).toBe(0); // the reference equals the policy before the first update
    expect(m['entropy']).toBeGreaterThan(0);
    expect(m['grad_norm']).toBeGreaterThan(0);
    expect(weightsOf(policy)).not.toEqual(before);
    expect(trainer.step).toBe(1);
    expect(trainer.optimizerStep).toBe(1);
    expect(trainer.hasReference).toBe(true);
  });

  it('drives the engine through the port: per update one forwardTrain + backward per micro-batch, then one optimizerStep', async () => {
    const policy = BigramEngine.random(V, 1, 0.5);
    const reference = await policy.clone();
    const trainer = await GRPOTrainer.create({
      policy,
      referencePolicy: reference,
      rewardFuncs: [targetFraction],
      dataset: prompts,
      config: { ...small, beta: 0.1, numIterations: 2, gradientAccumulationSteps: 2 },
    });
    owned.push(trainer, policy);
    await trainer.trainStep();
    // μ = 2 updates × 2 micro-batches; old log-probs (μ > 1) and reference log-probs once per micro-batch
    expect(policy.calls).toMatchObject({ sample: 1, logProbs: 2, forwardTrain: 4, backward: 4, optimizerStep: 2 });
    expect(policy.calls['zeroGrad']).toBeUndefined();
    expect(reference.calls).toMatchObject({ logProbs: 2 });
    expect(reference.calls['forwardTrain']).toBeUndefined();
    expect(policy.gradients().flat().every((g) => g === 0)).toBe(true); // optimizerStep cleared them
  });

  it('train() stops at maxSteps, between steps on abort, and refuses use after dispose()', async () => {
    const { trainer } = await makeTrainer({ ...small, maxSteps: 3 });
    const controller = new AbortController();
    const seen: number[] = [];
    await trainer.train({
      onStep: (_m, step) => {
        seen.push(step);
        if (step === 2) controller.abort();
      },
      signal: controller.signal,
    });
    expect(seen).toEqual([1, 2]);
    expect((await trainer.train()).length).toBe(1);
    expect(trainer.step).toBe(3);
    trainer.dispose();
    const error = await trainer.trainStep().catch((e: unknown) => e);
    expect(GrpoError.isInstance(error) && error.code).toBe('GRPO_DISPOSED');
  });

  it('beta = 0 holds no reference model and logs no kl', async () => {
    const { trainer } = await makeTrainer(small);
    expect(trainer.hasReference).toBe(false);
    const m = await trainer.trainStep();
    expect(m['kl']).toBeUndefined();
  });

  it('numIterations μ > 1 makes μ updates per generation batch with clipping against stored old log-probs', async () => {
    const { trainer } = await makeTrainer({ ...small, numIterations: 3, learningRate: 0.3, epsilon: 0.05 });
    const m = await trainer.trainStep();
    expect(trainer.optimizerStep).toBe(3);
    // later iterations are off-policy: with a large step and ε = 0.05 some tokens leave the trust region
    expect(m['clip_ratio/region_mean']).toBeGreaterThan(0);
  });

  it('gradient accumulation gives the same update as one big batch for dapo and dr_grpo', async () => {
    for (const lossType of ['dapo', 'dr_grpo'] as const) {
      const a = await makeTrainer({ ...small, lossType, gradientAccumulationSteps: 1 });
      const b = await makeTrainer({ ...small, lossType, gradientAccumulationSteps: 4 });
      const ma = await a.trainer.trainStep();
      const mb = await b.trainer.trainStep();
      expect(mb['grad_norm']).toBeCloseTo(ma['grad_norm']!, 5);
      const wa = weightsOf(a.policy).flat();
      const wb = weightsOf(b.policy).flat();
      wa.forEach((x, i) => expect(wb[i]).toBeCloseTo(x, 5));
    }
  });

  it('reference sync mixes ref ← α·π + (1−α)·ref every refModelSyncSteps updates', async () => {
    const policy = BigramEngine.random(V, 1, 0.5);
    const reference = await policy.clone();
    const trainer = await GRPOTrainer.create({
      policy,
      referencePolicy: reference,
      rewardFuncs: [targetFraction],
      dataset: prompts,
      config: { ...small, beta: 0.1, syncRefModel: true, refModelSyncSteps: 2, refModelMixupAlpha: 0.25 },
    });
    owned.push(trainer, policy);
    const ref0 = weightsOf(reference);
    await trainer.trainStep();
    expect(weightsOf(reference)).toEqual(ref0); // no sync after update 1
    await trainer.trainStep();
    const pi = weightsOf(policy);
    const expected = ref0.map((r, v) => r.map((x, j) => 0.25 * pi[v]![j]! + 0.75 * x));
    weightsOf(reference).forEach((r, v) => r.forEach((x, j) => expect(x).toBeCloseTo(expected[v]![j]!, 6)));
  });

  it('maskTruncatedCompletions removes truncated completions from the loss', async () => {
    // EOS logit −30: no completion ever ends, all are truncated at maxCompletionLength
    const run = async (maskTruncatedCompletions: boolean): Promise<Record<string, number>> => {
      const policy = BigramEngine.random(V, 1, 0.5, -30);
      const trainer = await GRPOTrainer.create({
        policy,
        rewardFuncs: [targetFraction],
        dataset: prompts,
        config: { ...small, maskTruncatedCompletions },
      });
      owned.push(trainer, policy);
      return trainer.trainStep();
    };
    const masked = await run(true);
    const unmasked = await run(false);
    expect(masked['completions/clipped_ratio']).toBe(1);
    expect(unmasked['completions/clipped_ratio']).toBe(1);
    expect(masked['grad_norm']).toBe(0);
    expect(unmasked['grad_norm']).toBeGreaterThan(0);
  });
});

describe('GRPOTrainer: variants', () => {
  it('GSPO + GDPO + two weighted rewards incl. soft over-length punishment + batch scaling + cosine warm-up', async () => {
    const { trainer } = await makeTrainer(
      {
        ...small,
        importanceSamplingLevel: 'sequence',
        multiObjectiveAggregation: 'normalizeThenSum',
        scaleRewards: 'batch',
        lossType: 'grpo',
        numIterations: 2,
        epsilon: 3e-4,
        epsilonHigh: 4e-4,
        rewardWeights: [1, 0.5],
        lrSchedulerType: 'cosine',
        warmupRatio: 0.1,
        maxSteps: 10,
      },
      [targetFraction, softOverlongPunishment(6, 3)],
    );
    const m = await trainer.trainStep();
    expect(m['rewards/soft_overlong_punishment/mean']).toBeLessThanOrEqual(0);
    // W = ceil(20 updates · 0.1) = 2; μ = 2 updates per step; the metric is the last update's lr:
    // step 1 → updates 0, 1 → 0.05 · 1/2 = 0.025
    expect(m['learning_rate']).toBeCloseTo(0.025, 12);
    expect(Object.values(m).every(Number.isFinite)).toBe(true);
    const m2 = await trainer.trainStep();
    // step 2 → updates 2, 3 → cosine progress (3 − 2)/(20 − 2) → 0.05 · ½(1 + cos(π/18))
    expect(m2['learning_rate']).toBeCloseTo(0.05 * 0.5 * (1 + Math.cos(Math.PI / 18)), 9);
    expect(m2['clip_ratio/region_mean']).toBeGreaterThan(0); // GSPO's tiny ε clips sequences on the 2nd iteration
  });

  it("scaleRewards 'none' with dr_grpo trains on raw centred rewards", async () => {
    const { trainer } = await makeTrainer({ ...small, scaleRewards: 'none', lossType: 'dr_grpo' });
    const m = await trainer.trainStep();
    expect(Number.isFinite(m['grad_norm'])).toBe(true);
    expect(m['grad_norm']).toBeGreaterThan(0);
  });

  it('passes dataset records and prompts to reward functions', async () => {
    const seen: unknown[] = [];
    const policy = BigramEngine.random(V, 1);
    const trainer = await GRPOTrainer.create({
      policy,
      dataset: [
        { user_prompt: 'cat', category: 'animals' },
        { user_prompt: 'car', category: 'vehicles' },
      ],
      rewardFuncs: [
        {
          name: 'by_category',
          fn: (ctx) => {
            seen.push(...ctx.records.map((r, i) => `${ctx.prompts[i]}:${String(r['category'])}:${ctx.groupIndices[i]}`));
            return ctx.completions.map((c) => c.length);
          },
        },
      ],
      config: { ...small, shuffleDataset: false },
    });
    owned.push(trainer, policy);
    await trainer.trainStep();
    expect(seen).toEqual([...Array(4).fill('cat:animals:0'), ...Array(4).fill('car:vehicles:1')]);
  });
});

describe('GRPOTrainer: bad input', () => {
  it('rejects rewards of the wrong length with the reward name', async () => {
    const { trainer } = await makeTrainer(small, [{ name: 'broken', fn: () => [1, 2, 3] }]);
    await expect(trainer.trainStep()).rejects.toThrowError('reward function "broken": expected 8 values (one per completion), got 3');
  });

  it('excludes and counts NaN/Infinity rewards without poisoning the update', async () => {
    const noisy: RewardFunction = {
      name: 'noisy',
      fn: (ctx) => ctx.completionIds.map((_, i) => (i % 3 === 0 ? Number.NaN : i % 3 === 1 ? Number.POSITIVE_INFINITY : i * 0.1)),
    };
    const { trainer, policy } = await makeTrainer(small, [noisy]);
    const m = await trainer.trainStep();
    expect(m['rewards/noisy/invalid_count']).toBeGreaterThan(0);
    expect(Object.values(m).every(Number.isFinite)).toBe(true);
    expect(weightsOf(policy).flat().every(Number.isFinite)).toBe(true);
  });

  it('all-equal rewards give zero advantages: no NaN, frac_reward_zero_std 1, no policy gradient', async () => {
    const { trainer, policy } = await makeTrainer(small, [{ name: 'flat', fn: (ctx) => ctx.completions.map(() => 0.5) }]);
    const before = weightsOf(policy);
    const m = await trainer.trainStep();
    expect(m['frac_reward_zero_std']).toBe(1);
    expect(m['reward']).toBe(0.5);
    expect(m['reward_std']).toBe(0);
    expect(m['grad_norm']).toBe(0);
    expect(m['loss']).toBe(0);
    expect(weightsOf(policy)).toEqual(before);
  });

  it('checks divisibility, empty datasets and the policy contract with stable codes', async () => {
    const policy = BigramEngine.random(V, 1);
    owned.push(policy);
    const create = (extra: Partial<Parameters<typeof GRPOTrainer.create>[0]>) =>
      GRPOTrainer.create({ policy, rewardFuncs: [targetFraction], dataset: prompts, ...extra }).catch((e: unknown) => e);
    const e1 = await create({ config: { numGenerations: 3, generationBatchSize: 8 } });
    expect(GrpoError.isInstance(e1) && e1.code).toBe('GRPO_BATCH_NOT_DIVISIBLE');
    const e2 = await create({ dataset: [] });
    expect(GrpoError.isInstance(e2) && e2.code).toBe('GRPO_EMPTY_DATASET');
    const e4 = await create({ policy: { sample: policy.sample.bind(policy) } as never });
    expect(GrpoError.isInstance(e4) && e4.code).toBe('GRPO_POLICY_CONTRACT');
    expect((e4 as Error).message).toMatch(/policy: not a PolicyEngine \(missing logProbs, forwardTrain, backward, .*\); wrap a TensorFlow.js model with TfjsPolicyEngine/);
    const liar = Object.create(policy) as BigramEngine;
    liar.sample = async (p, o) => {
      const r = await policy.sample(p, o);
      return { ...r, texts: r.texts.slice(1) };
    };
    const trainer = await GRPOTrainer.create({ policy: liar, rewardFuncs: [targetFraction], dataset: prompts, config: small });
    owned.push(trainer);
    const e3 = await trainer.trainStep().catch((e: unknown) => e);
    expect(GrpoError.isInstance(e3) && e3.code).toBe('GRPO_POLICY_CONTRACT');
    expect((e3 as Error).message).toMatch(/texts must have 8 rows/);
    const short = Object.create(policy) as BigramEngine;
    short.forwardTrain = async (b, o) => {
      const r = await policy.forwardTrain(b, o);
      return { ...r, logProbs: r.logProbs.map((row, i) => (i === 1 ? row.subarray(1) : row)) };
    };
    const t2 = await GRPOTrainer.create({ policy: short, rewardFuncs: [targetFraction], dataset: prompts, config: small });
    owned.push(t2);
    const e5 = await t2.trainStep().catch((e: unknown) => e);
    expect(GrpoError.isInstance(e5) && e5.code).toBe('GRPO_POLICY_CONTRACT');
    expect((e5 as Error).message).toMatch(/policy.forwardTrain\(\): expected logProbs as 8 rows of completionIds\[i\].length values, got row 1 has \d+ values/);
  });

  it('a non-finite loss or gradient norm fails the update without applying it (GRPO_NON_FINITE)', async () => {
    const policy = BigramEngine.random(V, 1, 0.5);
    owned.push(policy);
    const before = weightsOf(policy);
    const nanLoss = Object.create(policy) as BigramEngine;
    nanLoss.forwardTrain = async (b, o) => {
      const r = await policy.forwardTrain(b, o);
      r.logProbs[0]![0] = Number.NaN;
      return r;
    };
    const t1 = await GRPOTrainer.create({ policy: nanLoss, rewardFuncs: [targetFraction], dataset: prompts, config: small });
    owned.push(t1);
    const e1 = await t1.trainStep().catch((e: unknown) => e);
    expect(GrpoError.isInstance(e1) && e1.code).toBe('GRPO_NON_FINITE');
    expect((e1 as Error).message).toMatch(/loss NaN is not finite; the update was not applied/);
    expect(policy.calls['zeroGrad']).toBe(1);
    const infGrad = Object.create(policy) as BigramEngine;
    infGrad.backward = (g) => policy.backward(g.map((row) => row.map(() => Number.POSITIVE_INFINITY)));
    const t2 = await GRPOTrainer.create({ policy: infGrad, rewardFuncs: [targetFraction], dataset: prompts, config: small });
    owned.push(t2);
    const e2 = await t2.trainStep().catch((e: unknown) => e);
    expect(GrpoError.isInstance(e2) && e2.code).toBe('GRPO_NON_FINITE');
    expect((e2 as Error).message).toMatch(/gradient norm (Infinity|NaN) is not finite .*; the update was not applied/);
    expect(weightsOf(policy)).toEqual(before);
    expect(t2.optimizerStep).toBe(0);
    expect((await policy.getOptimizerState()).step).toBe(0);
  });
});

describe('GRPOTrainer: dynamic sampling (DAPO)', () => {
  it('drops zero-spread groups and refills from the next prompts, within the cap', async () => {
    // reward: the completion length for prompts starting with 'c' or 'd' (cat, dog, city: spread),
    // exactly 0 for every other prompt (zero spread → dropped)
    const spread: RewardFunction = {
      name: 'spread',
      fn: ({ prompts: ps, completionIds }) =>
        completionIds.map((ids, i) => (ps[i]!.startsWith('c') || ps[i]!.startsWith('d') ? ids.length : 0)),
    };
    const { trainer } = await makeTrainer({ ...small, dynamicSampling: true, maxGenerationBatches: 4 }, [spread]);
    const m = await trainer.trainStep();
    expect(m['dynamic_sampling/generation_rounds']).toBeGreaterThanOrEqual(1);
    expect(m['dynamic_sampling/generation_rounds']).toBeLessThanOrEqual(4);
    // the training batch keeps only groups with spread unless the cap forced filling
    expect(m['frac_reward_zero_std']).toBe(m['dynamic_sampling/filled_zero_std_groups']! / 2);
    const flat = await makeTrainer({ ...small, dynamicSampling: true, maxGenerationBatches: 3 }, [
      { name: 'flat', fn: (ctx) => ctx.completions.map(() => 1) },
    ]);
    const mf = await flat.trainer.trainStep();
    expect(mf['dynamic_sampling/generation_rounds']).toBe(3);
    expect(mf['dynamic_sampling/dropped_groups']).toBe(6);
    expect(mf['dynamic_sampling/filled_zero_std_groups']).toBe(2);
  });
});

describe('GRPOTrainer: state save/restore', () => {
  it('resumes bit for bit: 2 + (save, encode, decode, restore) + 2 steps equals 4 straight steps', async () => {
    const config: GRPOConfigInput = { ...small, beta: 0.05, numIterations: 2, gradientAccumulationSteps: 2, lrSchedulerType: 'cosine', warmupSteps: 1, maxSteps: 6 };
    const straight = await makeTrainer(config);
    const ms = await straight.trainer.train({ steps: 4 });

    const first = await makeTrainer(config);
    await first.trainer.train({ steps: 2 });
    const { manifest, parts } = encodeTrainerState(await first.trainer.getState());
    expect(parts).toHaveLength(1);
    const restoredState = decodeTrainerState(JSON.parse(JSON.stringify(manifest)) as Record<string, unknown>, parts[0]!.slice());

    const resumed = await makeTrainer(config, [targetFraction], 99); // different initial weights, overwritten
    await resumed.trainer.setState(restoredState);
    expect(resumed.trainer.step).toBe(2);
    const mr = await resumed.trainer.train({ steps: 2 });
    expect(weightsOf(resumed.policy)).toEqual(weightsOf(straight.policy));
    const strip = (m: Record<string, number>) => Object.fromEntries(Object.entries(m).filter(([k]) => k !== 'step_time'));
    expect(mr.map(strip)).toEqual(ms.slice(2).map(strip));
  });

  it('stores the engines\' states by parameter name: the policy with AdamW moments, the reference weights only', async () => {
    const { trainer } = await makeTrainer({ ...small, beta: 0.1 });
    await trainer.trainStep();
    const state = await trainer.getState();
    expect(Object.keys(state.policy.parameters)).toEqual(['w', 'b']);
    expect(state.policy.step).toBe(1);
    expect(state.policy.parameters['w']!.shape).toEqual([10, 10]);
    expect(state.policy.parameters['w']!.m!.some((x) => x !== 0)).toBe(true);
    expect(state.reference!.parameters['w']!.m).toBeUndefined();
    const { manifest, parts } = encodeTrainerState(state);
    // weights + m + v of W and b, and the reference's weights: (100 + 10) · 4 float32 values
    expect(parts.map((part) => part.byteLength)).toEqual([110 * 4 * 4]);
    expect(manifest['parts']).toBeUndefined(); // one part: the layout version 2 always had
    const decoded = decodeTrainerState(JSON.parse(JSON.stringify(manifest)) as Record<string, unknown>, parts[0]!);
    expect(decoded.policy.parameters['b']!.v).toEqual(state.policy.parameters['b']!.v);
    expect(decoded.reference!.parameters['w']!.weights).toEqual(state.reference!.parameters['w']!.weights);
  });

  it('splits large states into parts (no array split), and decodes them to the same state', async () => {
    const { trainer } = await makeTrainer({ ...small, beta: 0.1 });
    await trainer.trainStep();
    const state = await trainer.getState();
    // 400-byte arrays (w: 100 values) and 40-byte arrays (b): at most 500 bytes per part.
    const { manifest, parts } = encodeTrainerState(state, { partBytes: 500 });
    // In order: w's weights, m, v (400 each), b's weights, m, v (40 each), the reference's w and b.
    expect(parts.map((part) => part.byteLength)).toEqual([400, 400, 400 + 40 + 40, 40 + 400 + 40]);
    expect(manifest['parts']).toBe(4);
    const copy = JSON.parse(JSON.stringify(manifest)) as Record<string, unknown>;
    const decoded = decodeTrainerState(copy, parts);
    expect(decoded).toEqual(decodeTrainerState(encodeTrainerState(state).manifest, encodeTrainerState(state).parts));
    expect(decoded.policy.parameters['w']!.v).toEqual(state.policy.parameters['w']!.v);
    expect(decoded.reference!.parameters['b']!.weights).toEqual(state.reference!.parameters['b']!.weights);
    expect(() => decodeTrainerState(copy, parts.slice(0, 3))).toThrowError(/the manifest has 4 data parts, 3 given/);
  });

  it('refuses states that do not fit and changes nothing', async () => {
    const { trainer, policy } = await makeTrainer(small);
    const state = await trainer.getState();
    const other = await makeTrainer({ ...small, beta: 0.1 });
    await expect(other.trainer.setState(state)).rejects.toThrowError(/has no reference model but this trainer has one/);
    await trainer.trainStep();
    const before = weightsOf(policy);
    const bad = { ...state, policy: { ...state.policy, parameters: { w: { shape: [2], weights: new Float32Array(2) }, b: state.policy.parameters['b']! } } };
    const error = await trainer.setState(bad).catch((e: unknown) => e);
    expect(GrpoError.isInstance(error) && error.code).toBe('GRPO_STATE_MISMATCH');
    expect((error as Error).message).toMatch(/trainer state policy: .*parameter w: expected shape \[10, 10\]/);
    expect(weightsOf(policy)).toEqual(before);
    expect(trainer.step).toBe(1);
    const withRef = await other.trainer.getState();
    await other.trainer.trainStep();
    const otherBefore = weightsOf(other.policy);
    const badRef = { ...withRef, reference: { step: 0, parameters: { w: withRef.reference!.parameters['w']! } } };
    await expect(other.trainer.setState(badRef)).rejects.toThrowError(/trainer state reference: parameters differ from the state's policy; missing b/);
    expect(weightsOf(other.policy)).toEqual(otherBefore); // checked before the policy was touched
    expect(other.trainer.step).toBe(1);
    expect(() => decodeTrainerState({ version: 99 }, new Uint8Array())).toThrowError(/expected version 2/);
    expect(() => decodeTrainerState({ version: 1 }, new Uint8Array())).toThrowError(/version 1 states, from before the policy-engine port, cannot be resumed/);
  });
});
