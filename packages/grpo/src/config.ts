/**
 * GRPO configuration: a strict zod schema (unknown keys are errors) with TRL's defaults where
 * TRL has one (`GRPOConfig`, v1.x), renamed to camelCase. Resolve with {@link resolveGrpoConfig}.
 *
 * Batch vocabulary: one trainer step = one *generation batch* of `generationBatchSize`
 * completions (= generationBatchSize / numGenerations prompts × numGenerations), reused for
 * `numIterations` optimizer updates; each update accumulates gradients over
 * `gradientAccumulationSteps` micro-batches of generationBatchSize / gradientAccumulationSteps
 * completions. This is TRL's layout with steps_per_generation = gradient_accumulation_steps.
 *
 * AdamW's hyper-parameters (TRL's adam_beta1, adam_beta2, adam_epsilon, weight_decay) are not
 * here: the policy engine owns the optimizer and takes them when it is created
 * (`AdamWHyperParameters`); the learning rate, its schedule and the clipping norm are here.
 */
import { z } from 'zod';
import { GrpoError } from './errors.js';

const positiveInt = z.number().int().positive();
const nonNegative = z.number().finite().nonnegative();

/** Schema of {@link GRPOConfig}; every field has a default. */
export const grpoConfigSchema = z.strictObject({
  /** G: completions per prompt (default: 8, ≥ 2). */
  numGenerations: positiveInt.min(2, { message: 'must be at least 2 (GRPO compares completions within a group)' }).default(8),
  /** Completions per generation batch (default: 8); divisible by numGenerations and gradientAccumulationSteps. */
  generationBatchSize: positiveInt.default(8),
  /** Micro-batches per optimizer update (default: 1). */
  gradientAccumulationSteps: positiveInt.default(1),
  /** μ: optimizer updates per generation batch (default: 1). */
  numIterations: positiveInt.default(1),
  /** Trainer steps (generation batches) the schedule spans (default: 1000). */
  maxSteps: positiveInt.default(1000),
  /** Maximum completion tokens (default: 256). */
  maxCompletionLength: positiveInt.default(256),
  /** Sampling temperature; also divides logits for log-probs (default: 1). */
  temperature: z.number().finite().positive().default(1),
  /** Top-k sampling (default: 0 = off). */
  topK: z.number().int().nonnegative().default(0),
  /** Nucleus sampling (default: 1 = off). */
  topP: z.number().gt(0).lte(1).default(1),
  /** Repetition penalty (default: 1 = off). */
  repetitionPenalty: z.number().finite().positive().default(1),
  /** Peak learning rate (default: 1e-6, TRL's GRPO default). */
  learningRate: nonNegative.default(1e-6),
  /** Schedule shape (default: 'linear'). */
  lrSchedulerType: z.enum(['constant', 'constant_with_warmup', 'linear', 'cosine']).default('linear'),
  /** Warm-up optimizer updates (default: 0); wins over warmupRatio when > 0. */
  warmupSteps: z.number().int().nonnegative().default(0),
  /** Warm-up as a fraction of all updates (default: 0). */
  warmupRatio: z.number().min(0).max(1).default(0),
  /** Floor of linear/cosine decay as a fraction of the peak (default: 0). */
  minLearningRateRatio: z.number().min(0).max(1).default(0),
  /** Global gradient-norm clip (default: 1; 0 disables). */
  maxGradNorm: nonNegative.default(1),
  /** KL coefficient β (default: 0 = no reference model). */
  beta: nonNegative.default(0),
  /** Lower clip ε (default: 0.2). */
  epsilon: nonNegative.default(0.2),
  /** Upper clip ε_high (default: same as epsilon; DAPO uses 0.28). */
  epsilonHigh: nonNegative.optional(),
  /** Two-sided clipping cap δ on the ratio (default: off; INTELLECT-2 suggests > 1 + ε_high). */
  delta: z.number().finite().gt(1).optional(),
  /** 'token' or 'sequence' (GSPO) importance sampling (default: 'token'). */
  importanceSamplingLevel: z.enum(['token', 'sequence']).default('token'),
  /** Loss aggregation (default: 'dapo', TRL's default). */
  lossType: z.enum(['grpo', 'bnpo', 'dr_grpo', 'dapo']).default('dapo'),
  /** Advantage scaling (default: 'group'). */
  scaleRewards: z.enum(['group', 'batch', 'none']).default('group'),
  /** Multi-reward aggregation (default: 'sumThenNormalize'). */
  multiObjectiveAggregation: z.enum(['sumThenNormalize', 'normalizeThenSum']).default('sumThenNormalize'),
  /** One weight per reward function (default: all 1). */
  rewardWeights: z.array(z.number().finite()).optional(),
  /** Exclude completions that hit maxCompletionLength without EOS from the loss (default: false). */
  maskTruncatedCompletions: z.boolean().default(false),
  /** Mix the policy into the reference every refModelSyncSteps updates (default: false). */
  syncRefModel: z.boolean().default(false),
  /** α of ref ← α·π + (1−α)·ref (default: 0.6). */
  refModelMixupAlpha: z.number().min(0).max(1).default(0.6),
  /** Updates between reference syncs (default: 512). */
  refModelSyncSteps: positiveInt.default(512),
  /** DAPO dynamic sampling: drop zero-spread groups and refill from the next prompts (default: false). */
  dynamicSampling: z.boolean().default(false),
  /** Cap on generation rounds per step under dynamic sampling (default: 10, DAPO's max_num_gen_batches). */
  maxGenerationBatches: positiveInt.default(10),
  /** Shuffle the prompts each epoch (default: true). */
  shuffleDataset: z.boolean().default(true),
  /** Seed of the trainer RNG: shuffling and sampling seeds (default: 42). */
  seed: z.number().int().default(42),
});

/** Keys of TRL's config that configure the optimizer, which the policy engine owns here. */
const ENGINE_OPTIMIZER_KEYS = ['adamBeta1', 'adamBeta2', 'adamEpsilon', 'weightDecay'] as const;

/** A resolved configuration (every default applied). */
export type GRPOConfig = z.infer<typeof grpoConfigSchema>;

/** A partial configuration as written by users (defaults fill the rest). */
export type GRPOConfigInput = z.input<typeof grpoConfigSchema>;

/**
 * Validate `input`, fill defaults, and check cross-field rules (divisibility, reward weights).
 * Throws GrpoError `GRPO_INVALID_CONFIG` (listing every problem) or `GRPO_BATCH_NOT_DIVISIBLE`.
 */
export function resolveGrpoConfig(input: GRPOConfigInput = {}, numRewardFuncs?: number): GRPOConfig {
  const engineKeys = ENGINE_OPTIMIZER_KEYS.filter((key) => typeof input === 'object' && input !== null && key in input);
  if (engineKeys.length > 0) {
    throw new GrpoError(
      'GRPO_INVALID_CONFIG',
      `invalid GRPO config:\n${engineKeys
        .map((key) => `  ${key}: AdamW's hyper-parameters belong to the policy engine; give them when creating it (AdamWHyperParameters)`)
        .join('\n')}`,
    );
  }
  const parsed = grpoConfigSchema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const key = issue.path.join('.') || '(root)';
      return `  ${key}: ${issue.message}`;
    });
    throw new GrpoError('GRPO_INVALID_CONFIG', `invalid GRPO config:\n${lines.join('\n')}`);
  }
  const config = parsed.data;
  const { generationBatchSize: batch, numGenerations: g, gradientAccumulationSteps: ga } = config;
  if (batch % g !== 0) {
    throw new GrpoError(
      'GRPO_BATCH_NOT_DIVISIBLE',
      `generationBatchSize (${batch}) must be divisible by numGenerations (${g}): each prompt is sampled ` +
        `numGenerations times; valid generationBatchSize values are multiples of ${g}, e.g. ${g * Math.max(1, Math.round(batch / g))}`,
    );
  }
  if (batch % ga !== 0) {
    throw new GrpoError(
      'GRPO_BATCH_NOT_DIVISIBLE',
      `generationBatchSize (${batch}) must be divisible by gradientAccumulationSteps (${ga}) to split it into equal micro-batches`,
    );
  }
  if (numRewardFuncs !== undefined && config.rewardWeights !== undefined && config.rewardWeights.length !== numRewardFuncs) {
    throw new GrpoError(
      'GRPO_INVALID_CONFIG',
      `rewardWeights: expected ${numRewardFuncs} weights (one per reward function), got ${config.rewardWeights.length}`,
    );
  }
  return config;
}
