/**
 * Schemas of the files the trainer writes into a run folder (besides `validation_iter_N.json`,
 * whose schema is @vlm-grpo/eval's `validationResultSchema`, and checkpoint manifests):
 * - `metrics.jsonl`: one {@link metricsLineSchema} line per iteration;
 * - `checkpoint_iter_N/state.json`: {@link trainerStateSchema} (the application's part of a
 *   checkpoint; the GRPO part is `trainer_state.json` + `trainer_state.bin`);
 * - `final_results.json`: {@link finalResultsSchema}.
 */
import { z } from 'zod';

const finite = z.number().refine(Number.isFinite, { message: 'must be finite' });
const count = z.number().int().nonnegative();

/** Seconds spent per stage in one iteration. */
export const stageTimingsSchema = z.strictObject({
  /** Policy sampling of the rewrites. */
  generation: finite,
  /** Diffusion rendering (busy seconds; overlaps scoring). */
  rendering: finite,
  /** CLIP and text scoring (busy seconds; overlaps rendering). */
  scoring: finite,
  /** Log-probs, loss, gradients and the optimizer step. */
  update: finite,
  /** Wall-clock seconds of the whole iteration. */
  total: finite,
});

/** Seconds per stage. */
export type StageTimings = z.infer<typeof stageTimingsSchema>;

/** One line of `metrics.jsonl`. */
export const metricsLineSchema = z.strictObject({
  /** Iterations completed (1-based). */
  iteration: z.number().int().positive(),
  /** ISO time the iteration ended. */
  time: z.string(),
  /** Fraction of the training prompts seen. */
  epoch: finite,
  /** GRPO metrics named like TRL (`reward`, `kl`, `rewards/<name>/mean`…); empty when the step failed. */
  metrics: z.record(z.string(), z.number()),
  /** Seconds per stage. */
  timings_s: stageTimingsSchema,
  /** Samples of the iteration and how many failed. */
  samples: z.strictObject({ total: count, failed: count }),
  /** Failures, one per failed sample (−1: the whole batch). */
  failures: z.array(z.strictObject({ stage: z.string(), sample: z.number().int(), message: z.string() })),
});

/** One line of `metrics.jsonl`. */
export type MetricsLine = z.infer<typeof metricsLineSchema>;

/** Best validation so far. */
export const bestSchema = z.strictObject({
  /** Metric that selects the best model (`validation_settings.best_metric`). */
  metric: z.string(),
  /** Its value. */
  value: finite,
  /** Iteration of that validation. */
  iteration: count,
});

/** Summary of one validation kept in the trainer state and final results. */
export const validationSummarySchema = z.strictObject({
  iteration: count,
  file: z.string().nullable(),
  evaluated: count,
  failed: count,
  original_mean_reward: z.number().nullable(),
  enhanced_mean_reward: z.number().nullable(),
  mean_improvement: z.number().nullable(),
  win_rate: z.number().nullable(),
  success_rate: z.number().nullable(),
  fallback_rate: z.number().nullable(),
});

/** Summary of one validation. */
export type ValidationSummary = z.infer<typeof validationSummarySchema>;

/** `checkpoint_iter_N/state.json`: the application state of a checkpoint. */
export const trainerStateSchema = z.strictObject({
  format: z.literal('vlm-grpo-trainer-state/1'),
  /** Iterations completed. */
  iteration: count,
  /** The run id (W&B run id too). */
  run_id: z.string(),
  /** Copies of the balanced prompt order the GRPO dataset was built from (kept stable on resume). */
  dataset_epochs: z.number().int().positive(),
  /** Prompt sampler position matching the GRPO dataset cursor. */
  sampler: z.strictObject({ epoch: count, offset: count, batchesDrawn: count }),
  /** Failure accounting. */
  failures: z.strictObject({ consecutive: count, totalFailed: count, totalSamples: count }),
  /** Running statistics of normalised reward components. */
  reward_normalizers: z.record(z.string(), z.strictObject({ count: count, mean: z.number(), m2: z.number() })),
  /** Best validation so far. */
  best: bestSchema.nullable(),
  /** Every validation so far. */
  validations: z.array(validationSummarySchema),
  /** Every metrics line so far (metrics.jsonl is rewritten from it on resume). */
  metrics: z.array(metricsLineSchema),
  /** Training seconds so far (all sessions). */
  training_seconds: z.number().nonnegative(),
});

/** The application state of a checkpoint. */
export type TrainerState = z.infer<typeof trainerStateSchema>;

/** `final_results.json`. */
export const finalResultsSchema = z.strictObject({
  format: z.literal('vlm-grpo-final-results/1'),
  run_id: z.string(),
  /** `completed`, `stopped` (signal) or `failed` (too many failures). */
  status: z.enum(['completed', 'stopped', 'failed']),
  /** Why the run ended that way. */
  message: z.string(),
  created_at: z.string(),
  /** The resolved configuration. */
  config: z.record(z.string(), z.unknown()),
  iterations: z.strictObject({ completed: count, planned: count, resumed_from: count.nullable() }),
  devices: z.strictObject({ policy: z.string(), diffusion: z.string(), clip: z.string() }),
  timings_s: z.strictObject({
    /** Seconds loading models and data. */
    initialization: z.number().nonnegative(),
    /** Training seconds over all sessions. */
    training: z.number().nonnegative(),
    /** Validation seconds in this session. */
    validation: z.number().nonnegative(),
    /** Mean seconds per iteration by stage over the iterations of this session. */
    per_iteration: stageTimingsSchema.nullable(),
  }),
  best: bestSchema.nullable(),
  final_metrics: z.record(z.string(), z.number()),
  validations: z.array(validationSummarySchema),
  failures: z.strictObject({ failed_samples: count, total_samples: count }),
  /** Where everything is, relative to the run folder. */
  files: z.strictObject({
    run_folder: z.string(),
    log: z.string(),
    metrics: z.string(),
    best_model: z.string().nullable(),
    checkpoints: z.array(z.string()),
    validations: z.array(z.string()),
    report: z.string().nullable(),
  }),
});

/** `final_results.json`. */
export type FinalResults = z.infer<typeof finalResultsSchema>;
