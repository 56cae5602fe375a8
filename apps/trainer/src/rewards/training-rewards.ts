/**
 * The reward functions GRPO trains on: the CLIP image components (each a named GRPO reward
 * function, weighted through GRPO's `rewardWeights`, so `rewards/<name>/mean` is logged per
 * component and `normalize_then_sum` normalises each one) and the two text rewards.
 *
 * Per batch (one GRPO step), computed once and shared by every function:
 * 1. Image seeds: completion i of prompt group k, image j < images_per_prompt, uses
 *    `deriveSeed(seed, step, k, j)` when `same_seed_per_group` (every rewrite of a group starts
 *    from the same initial noise, so rewards compare prompts, not noise), else
 *    `deriveSeed(seed, step, k, j, 1 + i)`.
 * 2. Rendering and scoring go through a rollout backend (src/rollout/): in this process
 *    (`LocalRolloutBackend`, group k+1 renders while group k is scored) or on worker processes
 *    through Redis (`RedisRolloutBackend`); both run `renderAndScoreGroups`, so the rewards are
 *    the same. Groups are keyed by (iteration, round, group): {@link beginIteration} sets the
 *    iteration, every reward batch of an iteration is the next round (DAPO refills).
 * 3. Every component is scored against the user's ORIGINAL prompt (relevance) and the rewrite
 *    (similarity), per image, and averaged over the images of a rewrite.
 * 4. Components with `normalization: running_zscore` are standardised with running (Welford)
 *    statistics over every value seen so far in training (state saved in checkpoints).
 * A sample whose rendering or scoring fails, or whose image is NaN, gets `null` from EVERY
 * function (GRPO then excludes it: advantage 0), and the failure is recorded for the iteration.
 */
import { deriveSeed } from '@vlm-grpo/data';
import type { RewardContext, RewardFunction } from '@vlm-grpo/grpo';

import type { TrainerConfig } from '../config/config-schema.js';
import type { SampleFailure } from '../runtime/failures.js';
import type { RolloutGroup } from '../rollout/group-rollout.js';
import { LocalRolloutBackend } from '../rollout/local-backend.js';
import { imageComponentsOf, type RolloutBackend, type RolloutRequest } from '../rollout/rollout-backend.js';
import type { ImageRenderer, ImageRewardModel, ImageRewardName, RewardComponents } from '../system/ports.js';
import { lengthInRangeReward, subjectKeptReward } from './text-rewards.js';

/** Saved running statistics of one component (Welford). */
export interface RunningStats {
  count: number;
  mean: number;
  m2: number;
}

/** Welford running mean and variance. */
export class RunningNormalizer {
  private stats: RunningStats = { count: 0, mean: 0, m2: 0 };

  /** Add finite values, then return them standardised with the updated statistics. */
  updateAndNormalize(values: readonly (number | null)[]): (number | null)[] {
    for (const value of values) {
      if (value === null || !Number.isFinite(value)) continue;
      const count = this.stats.count + 1;
      const delta = value - this.stats.mean;
      const mean = this.stats.mean + delta / count;
      this.stats = { count, mean, m2: this.stats.m2 + delta * (value - mean) };
    }
    const std = this.stats.count > 1 ? Math.sqrt(this.stats.m2 / (this.stats.count - 1)) : 0;
    return values.map((value) => (value === null || !Number.isFinite(value) ? value : std > 0 ? (value - this.stats.mean) / std : 0));
  }

  getState(): RunningStats {
    return { ...this.stats };
  }

  setState(state: RunningStats): void {
    this.stats = { ...state };
  }
}

/** Busy seconds of the reward stages of one batch. */
export interface RewardTimings {
  /** Seconds rendering (summed over calls). */
  rendering: number;
  /** Seconds scoring images (summed over calls). */
  scoring: number;
  /** Wall-clock seconds of the whole reward computation (rendering and scoring overlap). */
  wall: number;
}

/** What one batch's rewards produced besides the values. */
export interface RewardBatchReport {
  failures: SampleFailure[];
  timings: RewardTimings;
  /** Images rendered. */
  images: number;
  /** The rollout backend's metrics of the batch (`rollout/...`; empty for the local backend). */
  rollout: Record<string, number>;
  /** The rollout backend's summary line of the batch (null for the local backend). */
  rolloutSummary: string | null;
}

/** Options of {@link TrainingRewards}. */
export interface TrainingRewardsOptions {
  config: TrainerConfig;
  renderer: ImageRenderer;
  imageRewards: ImageRewardModel;
  /** Where groups are rendered and scored (default: a `LocalRolloutBackend` over `renderer` and `imageRewards`). */
  rollouts?: RolloutBackend;
  /** Stops rendering between groups when aborted (the batch then fails). */
  signal?: AbortSignal;
  /** Told when a batch's rewards start and end (progress display). */
  onStage?: (stage: 'rewards' | 'update') => void;
}

type Values = Map<string, (number | null)[]>;

/**
 * Largest usable combined reward magnitude: group statistics square the rewards (standard
 * deviations), so beyond ~1e154 they overflow to Infinity; 1e150 leaves room for sums.
 */
export const MAX_COMBINED_REWARD = 1e150;

const emptyReport = (): RewardBatchReport => ({ failures: [], timings: { rendering: 0, scoring: 0, wall: 0 }, images: 0, rollout: {}, rolloutSummary: null });

/** The trainer's GRPO reward functions (see the file header). */
export class TrainingRewards {
  /** Named reward functions, in the order of {@link weights}. */
  readonly functions: RewardFunction[];
  /** GRPO reward weights, one per function. */
  readonly weights: number[];
  /** Names of the image components in use. */
  readonly imageComponents: ImageRewardName[];
  /** Where groups are rendered and scored. */
  readonly rollouts: RolloutBackend;
  private readonly config: TrainerConfig;
  private readonly signal: AbortSignal | undefined;
  private readonly onStage: TrainingRewardsOptions['onStage'];
  private readonly normalizers = new Map<string, RunningNormalizer>();
  private readonly batches = new WeakMap<RewardContext, Promise<Values>>();
  private report: RewardBatchReport = emptyReport();
  private iteration = 0;
  private rounds = 0;
  private sampledRounds = 0;

  constructor(options: TrainingRewardsOptions) {
    this.config = options.config;
    this.signal = options.signal;
    this.onStage = options.onStage;
    const rewards = options.config.reward_settings;
    this.imageComponents = imageComponentsOf(options.config);
    this.rollouts = options.rollouts ?? new LocalRolloutBackend({ renderer: options.renderer, imageRewards: options.imageRewards }, this.imageComponents);
    const named: { name: string; weight: number }[] = [
      ...this.imageComponents.map((name) => ({ name, weight: rewards[name].weight })),
      ...(rewards.length_in_range.weight > 0 ? [{ name: 'length_in_range', weight: rewards.length_in_range.weight }] : []),
      ...(rewards.subject_kept.weight > 0 ? [{ name: 'subject_kept', weight: rewards.subject_kept.weight }] : []),
    ];
    if (named.length === 0) {
      named.push({ name: 'subject_kept', weight: 1 });
    }
    for (const name of this.imageComponents) {
      if (rewards[name].normalization === 'running_zscore') this.normalizers.set(name, new RunningNormalizer());
    }
    this.functions = named.map(({ name }) => ({ name, fn: async (context: RewardContext) => (await this.batch(context)).get(name)! }));
    this.weights = named.map(({ weight }) => weight);
  }

  /** Failures, timings and image count of the latest batch, and reset them. */
  takeReport(): RewardBatchReport {
    const report = this.report;
    const rollout = this.rollouts.takeMetrics();
    this.report = emptyReport();
    return { ...report, rollout: rollout.metrics, rolloutSummary: rollout.summary };
  }

  /** The trainer iteration (0-based) whose batches come next: rollout keys derive from it. */
  beginIteration(iteration: number): void {
    this.iteration = iteration;
    this.rounds = 0;
    this.sampledRounds = 0;
  }

  /**
   * Start rendering a chunk of sampled groups before the reward functions ask for them (chunked
   * generation: `ChunkedPolicy` calls this once per chunk). `round` is {@link nextSampledRound}'s.
   */
  async prefetch(step: number, round: number, firstGroup: number, prompts: readonly string[], completions: readonly string[], g: number): Promise<void> {
    if (this.imageComponents.length === 0) return;
    const requests: RolloutRequest[] = prompts.map((prompt, k) => ({
      key: { iteration: this.iteration, round, group: firstGroup + k },
      group: this.group(step, firstGroup + k, prompt, completions.slice(k * g, (k + 1) * g)),
    }));
    await this.rollouts.prefetch(requests);
  }

  /** Round number of the next policy sampling call of this iteration (counted like reward batches). */
  nextSampledRound(): number {
    return this.sampledRounds++;
  }

  /** Running statistics of the normalised components, for checkpoints. */
  getState(): Record<string, RunningStats> {
    return Object.fromEntries([...this.normalizers].map(([name, normalizer]) => [name, normalizer.getState()]));
  }

  /** Restore {@link getState}. */
  setState(state: Record<string, RunningStats>): void {
    for (const [name, stats] of Object.entries(state)) this.normalizers.get(name)?.setState(stats);
  }

  /** Seeds of the images of row `row` (group `group`) at `step` (see the file header). */
  imageSeeds(step: number, group: number, row: number): number[] {
    const { seed } = this.config.training_settings;
    const { images_per_prompt: count, same_seed_per_group: same } = this.config.diffusion_settings;
    return Array.from({ length: count }, (_, image) => (same ? deriveSeed(seed, step, group, image) : deriveSeed(seed, step, group, image, 1 + row)));
  }

  private batch(context: RewardContext): Promise<Values> {
    let pending = this.batches.get(context);
    if (!pending) {
      pending = this.compute(context);
      this.batches.set(context, pending);
    }
    return pending;
  }

  private async compute(context: RewardContext): Promise<Values> {
    const started = performance.now();
    this.onStage?.('rewards');
    const n = context.completions.length;
    const rewards = this.config.reward_settings;
    const failed = new Map<number, SampleFailure>();
    const values: Values = new Map();
    if (rewards.length_in_range.weight > 0) {
      const { min_words, max_words } = rewards.length_in_range;
      values.set('length_in_range', context.completions.map((text) => lengthInRangeReward(text, min_words, max_words)));
    }
    if (rewards.subject_kept.weight > 0 || this.functions.some((f) => f.name === 'subject_kept')) {
      values.set('subject_kept', context.completions.map((text, i) => subjectKeptReward(context.prompts[i]!, text)));
    }
    if (this.imageComponents.length > 0) {
      const components = await this.imageComponentValues(context, failed);
      for (const name of this.imageComponents) {
        const raw = components.map((row) => (row === null ? null : (row[name] ?? null)));
        const normalizer = this.normalizers.get(name);
        values.set(name, normalizer ? normalizer.updateAndNormalize(raw) : raw);
      }
    }
    this.checkCombinedRewards(values, n, failed);
    for (const sample of failed.keys()) for (const list of values.values()) list[sample] = null;
    this.report.failures.push(...failed.values());
    this.report.timings.wall += (performance.now() - started) / 1000;
    this.onStage?.('update');
    if (values.size === 0) throw new Error('no reward function is configured');
    for (const list of values.values()) if (list.length !== n) throw new Error(`internal: ${list.length} rewards for ${n} completions`);
    return values;
  }

  /**
   * A sample whose combined reward is not finite is a failed sample (stage `rewards`), never a
   * 0: GRPO forms Σ_k w_k·r_k (`sum_then_normalize`) or Σ_k w_k·z_k with group z-scores
   * |z_k| ≤ √n (`normalize_then_sum`); either beyond {@link MAX_COMBINED_REWARD} (e.g. a weight
   * of 1e308) fails the sample.
   */
  private checkCombinedRewards(values: Values, n: number, failed: Map<number, SampleFailure>): void {
    const normalizeFirst = this.config.reward_settings.aggregation === 'normalize_then_sum';
    const bound = Math.sqrt(n);
    for (let sample = 0; sample < n; sample++) {
      if (failed.has(sample)) continue;
      let sum = 0;
      let normalized = 0;
      this.functions.forEach((func, k) => {
        const value = values.get(func.name)?.[sample];
        if (value === null || value === undefined) return;
        sum += this.weights[k]! * value;
        normalized += Math.abs(this.weights[k]!) * bound;
      });
      const usable = (value: number) => Number.isFinite(value) && Math.abs(value) <= MAX_COMBINED_REWARD;
      if (!usable(sum) || (normalizeFirst && !usable(normalized))) {
        const what = usable(sum) ? `the weighted sum of its normalised rewards can reach ${normalized}` : `its combined reward Σ weight·reward is ${sum}`;
        failed.set(sample, { stage: 'rewards', sample, message: `${what}: not finite or beyond ±${MAX_COMBINED_REWARD} (check the reward_settings weights)` });
      }
    }
  }

  /** One prompt group: its rewrites and the seeds of their images. */
  private group(step: number, group: number, original: string, rewrites: readonly string[]): RolloutGroup {
    return { original, rewrites: [...rewrites], seeds: rewrites.map((_, row) => this.imageSeeds(step, group, row)) };
  }

  /** Mean components per completion (null when the sample failed). */
  private async imageComponentValues(context: RewardContext, failed: Map<number, SampleFailure>): Promise<(RewardComponents | null)[]> {
    const round = this.rounds++;
    const groups = new Map<number, number[]>();
    context.groupIndices.forEach((group, row) => groups.set(group, [...(groups.get(group) ?? []), row]));
    const entries = [...groups.entries()];
    const requests: RolloutRequest[] = entries.map(([group, rows]) => ({
      key: { iteration: this.iteration, round, group },
      group: this.group(context.step, group, context.prompts[rows[0]!]!, rows.map((row) => context.completions[row]!)),
    }));
    const timings = { render: 0, score: 0 };
    try {
      const outcomes = await this.rollouts.run(requests, timings, this.signal);
      const result: (RewardComponents | null)[] = context.completions.map(() => null);
      outcomes.forEach((outcome, c) => {
        this.report.images += outcome.imagesScored;
        entries[c]![1].forEach((row, i) => {
          const item = outcome.rows[i]!;
          if ('components' in item) result[row] = item.components;
          else if (!failed.has(row)) failed.set(row, { stage: item.stage, sample: row, message: item.message });
        });
      });
      return result;
    } finally {
      this.report.timings.rendering += timings.render;
      this.report.timings.scoring += timings.score;
    }
  }
}
