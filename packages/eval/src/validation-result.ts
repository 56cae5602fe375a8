/**
 * `validation_iter_N.json`: the zod schema of one validation result, its version, and parsing.
 *
 * The file is the {@link ValidationResult} object itself (snake_case keys, like the trainer's
 * config and the prompt records). Every number is finite; a metric over zero evaluated prompts is
 * `null`. Objects are strict: an unknown key is an error, so a file written by a newer format
 * version is refused with a message naming the key, not misread.
 */
import { z } from 'zod';

import { EvalError, InvalidResultError } from './errors.js';

/** Value of the `format` field. */
export const VALIDATION_RESULT_FORMAT = 'vlm-grpo.validation' as const;

/** Current (and only) version of the file format. */
export const VALIDATION_RESULT_VERSION = 1 as const;

/** Stage at which a validation prompt failed. */
export const FAILURE_STAGES = ['enhance', 'render', 'score'] as const;

/** Stage at which a validation prompt failed: `enhance` | `render` | `score`. */
export type FailureStage = (typeof FAILURE_STAGES)[number];

const count = z.number().int().nonnegative();
const nullableNumber = z.number().nullable();
const seed = z.number().int().min(0).max(0xffffffff);

/** Summary statistics of a list of numbers (`std` is the Bessel-corrected sample std, `null` below 2 values). */
export const summarySchema = z.strictObject({
  count,
  mean: nullableNumber,
  std: nullableNumber,
  min: nullableNumber,
  max: nullableNumber,
  median: nullableNumber,
});

/** Summary statistics of a list of numbers. */
export type Summary = z.infer<typeof summarySchema>;

/** Reward of one side (original or enhanced) of one prompt. */
export const rewardSchema = z.strictObject({
  /** Mean total reward over the images of this prompt. */
  total: z.number(),
  /** Mean of each component over the images of this prompt. */
  components: z.record(z.string(), z.number()),
  /** Total reward of each image (length `images_per_prompt`). */
  per_image: z.array(z.number()).min(1),
});

/** Reward of one side of one prompt. */
export type PromptReward = z.infer<typeof rewardSchema>;

const fallbackSchema = z.strictObject({ used: z.boolean(), reason: z.string().optional() });

const itemBase = {
  /** Position of the record in the validated list. */
  index: count,
  /** The record's `id`, when it has one. */
  id: z.union([z.string(), z.number().int()]).optional(),
  user_prompt: z.string(),
  category: z.string(),
  difficulty: z.string(),
  /** Seeds of the images (one per image); original and enhanced share them. */
  seeds: z.array(seed).min(1),
};

/** A prompt whose original and enhanced images were both rendered and scored. */
export const evaluatedItemSchema = z.strictObject({
  ...itemBase,
  status: z.literal('ok'),
  enhanced_prompt: z.string(),
  fallback: fallbackSchema,
  original: rewardSchema,
  enhanced: rewardSchema,
  /** `enhanced.total - original.total`. */
  improvement: z.number(),
  /** Comparison of the totals, ties within `tie_tolerance`. */
  outcome: z.enum(['win', 'tie', 'loss']),
  /** Word counts of the original prompt and of the rewrite. */
  words: z.strictObject({ original: count, enhanced: count }),
});

/** A prompt that failed and is excluded from every metric. */
export const failedItemSchema = z.strictObject({
  ...itemBase,
  status: z.literal('failed'),
  stage: z.enum(FAILURE_STAGES),
  /** Which image failed (`original` / `enhanced`), when the failure concerns one image. */
  side: z.enum(['original', 'enhanced']).optional(),
  error: z.string(),
  enhanced_prompt: z.string().nullable(),
  fallback: fallbackSchema.nullable(),
});

/** One validation prompt in the result. */
export const validationItemSchema = z.discriminatedUnion('status', [evaluatedItemSchema, failedItemSchema]);

/** A prompt that was evaluated. */
export type EvaluatedItem = z.infer<typeof evaluatedItemSchema>;
/** A prompt that failed. */
export type FailedItem = z.infer<typeof failedItemSchema>;
/** One validation prompt in the result. */
export type ValidationItem = z.infer<typeof validationItemSchema>;

/** Metrics of one side (original or enhanced prompts). */
export const sideMetricsSchema = z.strictObject({
  reward: summarySchema,
  /** Mean of each reward component over the evaluated prompts that report it. */
  components: z.record(z.string(), z.strictObject({ count, mean: z.number() })),
  /** Fraction of prompts with total reward > `success_threshold`. */
  success_rate: nullableNumber,
});

/** Metrics of one side. */
export type SideMetrics = z.infer<typeof sideMetricsSchema>;

/** One row of a per-category or per-difficulty table. */
export const groupRowSchema = z.strictObject({
  key: z.string(),
  /** Evaluated prompts in the group. */
  count,
  /** Failed prompts in the group (excluded from the other columns). */
  failed: count,
  original_mean: nullableNumber,
  enhanced_mean: nullableNumber,
  mean_improvement: nullableNumber,
  win_rate: nullableNumber,
  success_rate: nullableNumber,
  improvement_rate: nullableNumber,
});

/** One row of a per-category or per-difficulty table. */
export type GroupRow = z.infer<typeof groupRowSchema>;

/** The aggregate metrics of a validation. */
export const validationMetricsSchema = z.strictObject({
  /** Prompts included in the metrics. */
  evaluated: count,
  original: sideMetricsSchema,
  enhanced: sideMetricsSchema,
  /** Summary of `improvement` (enhanced − original) per prompt. */
  improvement: summarySchema,
  /** Mean of `improvement` (same as `improvement.mean`). */
  mean_improvement: nullableNumber,
  wins: count,
  ties: count,
  losses: count,
  /** `(wins + 0.5 · ties) / evaluated`. */
  win_rate: nullableNumber,
  /** Fraction of prompts with enhanced reward > `success_threshold` (same as `enhanced.success_rate`). */
  success_rate: nullableNumber,
  /** Fraction of prompts with improvement > `improvement_margin`. */
  improvement_rate: nullableNumber,
  /** Evaluated prompts whose rewrite was a fallback. */
  fallback_count: count,
  /** `fallback_count / evaluated`. */
  fallback_rate: nullableNumber,
  /** Word counts of the rewrites. */
  rewrite_words: summarySchema,
  /** Word counts of the original prompts. */
  original_words: summarySchema,
  by_category: z.array(groupRowSchema),
  by_difficulty: z.array(groupRowSchema),
});

/** The aggregate metrics of a validation. */
export type ValidationMetrics = z.infer<typeof validationMetricsSchema>;

/** Settings that shaped the metrics, recorded with them. */
export const validationSettingsSchema = z.strictObject({
  success_threshold: z.number(),
  improvement_margin: z.number().nonnegative(),
  tie_tolerance: z.number().nonnegative(),
  images_per_prompt: z.number().int().positive(),
});

/** Settings that shaped the metrics. */
export type ValidationSettings = z.infer<typeof validationSettingsSchema>;

/** Schema of `validation_iter_N.json`. */
export const validationResultSchema = z.strictObject({
  format: z.literal(VALIDATION_RESULT_FORMAT),
  version: z.literal(VALIDATION_RESULT_VERSION),
  /** Training iteration the validation belongs to. */
  iteration: count,
  /** ISO 8601 time the validation finished. */
  created_at: z.string().min(1),
  /** Validator seed the image seeds derive from. */
  seed,
  settings: validationSettingsSchema,
  counts: z.strictObject({
    prompts: count,
    evaluated: count,
    failed: count,
    failed_by_stage: z.strictObject({ enhance: count, render: count, score: count }),
  }),
  metrics: validationMetricsSchema,
  items: z.array(validationItemSchema),
  /** Files written with this result, relative to the run folder (`null` when not written). */
  files: z.strictObject({
    result: z.string().nullable(),
    contact_sheet: z.string().nullable(),
    images: z.array(z.strictObject({ index: count, original: z.string(), enhanced: z.string() })),
  }),
  /** Wall-clock seconds per stage. */
  timings_s: z.strictObject({ enhance: z.number(), render: z.number(), score: z.number(), outputs: z.number(), total: z.number() }),
});

/** One validation result (`validation_iter_N.json`). */
export type ValidationResult = z.infer<typeof validationResultSchema>;

/** Relative file name of the result of `iteration`: `validation_iter_<iteration>.json`. */
export function validationResultFileName(iteration: number): string {
  if (!Number.isSafeInteger(iteration) || iteration < 0) {
    throw new EvalError('EVAL_INVALID_ARGUMENT', `iteration must be a non-negative integer, received ${iteration}`);
  }
  return `validation_iter_${iteration}.json`;
}

/**
 * Validate `value` against {@link validationResultSchema}.
 * @param source Named in the error message (a file path; default `"value"`).
 * @throws InvalidResultError (`EVAL_INVALID_RESULT`) listing every problem as `key.path: message`.
 */
export function parseValidationResult(value: unknown, source = 'value'): ValidationResult {
  const parsed = validationResultSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues = parsed.error.issues.slice(0, 50).map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`);
  throw new InvalidResultError(source, issues);
}
