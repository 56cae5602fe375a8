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
 * 2. Rendering and scoring overlap: the images of group k+1 are rendered while group k is
 *    scored (both are ONNX Runtime sessions running outside the JS thread).
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
import { IMAGE_REWARD_NAMES, type ImageRenderer, type ImageRewardModel, type ImageRewardName, type RenderedImage, type RewardComponents } from '../system/ports.js';
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
}

/** Options of {@link TrainingRewards}. */
export interface TrainingRewardsOptions {
  config: TrainerConfig;
  renderer: ImageRenderer;
  imageRewards: ImageRewardModel;
  /** Stops rendering between groups when aborted (the batch then fails). */
  signal?: AbortSignal;
  /** Told when a batch's rewards start and end (progress display). */
  onStage?: (stage: 'rewards' | 'update') => void;
}

type Values = Map<string, (number | null)[]>;

const isImage = (value: unknown): value is RenderedImage =>
  typeof value === 'object' && value !== null && 'data' in value && 'width' in value && (value as RenderedImage).data instanceof Uint8Array;

const errorText = (value: unknown): string =>
  value instanceof Error ? value.message : typeof value === 'object' && value !== null && 'error' in value ? errorText((value as { error: unknown }).error) || String((value as { error: unknown }).error) : String(value);

/** The trainer's GRPO reward functions (see the file header). */
export class TrainingRewards {
  /** Named reward functions, in the order of {@link weights}. */
  readonly functions: RewardFunction[];
  /** GRPO reward weights, one per function. */
  readonly weights: number[];
  /** Names of the image components in use. */
  readonly imageComponents: ImageRewardName[];
  private readonly config: TrainerConfig;
  private readonly renderer: ImageRenderer;
  private readonly imageRewards: ImageRewardModel;
  private readonly signal: AbortSignal | undefined;
  private readonly onStage: TrainingRewardsOptions['onStage'];
  private readonly normalizers = new Map<string, RunningNormalizer>();
  private readonly batches = new WeakMap<RewardContext, Promise<Values>>();
  private report: RewardBatchReport = { failures: [], timings: { rendering: 0, scoring: 0, wall: 0 }, images: 0 };

  constructor(options: TrainingRewardsOptions) {
    this.config = options.config;
    this.renderer = options.renderer;
    this.imageRewards = options.imageRewards;
    this.signal = options.signal;
    this.onStage = options.onStage;
    const rewards = options.config.reward_settings;
    this.imageComponents = IMAGE_REWARD_NAMES.filter((name) => rewards[name].weight > 0);
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
    this.report = { failures: [], timings: { rendering: 0, scoring: 0, wall: 0 }, images: 0 };
    return report;
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
    for (const sample of failed.keys()) for (const list of values.values()) list[sample] = null;
    this.report.failures.push(...failed.values());
    this.report.timings.wall += (performance.now() - started) / 1000;
    this.onStage?.('update');
    if (values.size === 0) throw new Error('no reward function is configured');
    for (const list of values.values()) if (list.length !== n) throw new Error(`internal: ${list.length} rewards for ${n} completions`);
    return values;
  }

  /** Mean components per completion (null when the sample failed). */
  private async imageComponentValues(context: RewardContext, failed: Map<number, SampleFailure>): Promise<(RewardComponents | null)[]> {
    const n = context.completions.length;
    const groups = new Map<number, number[]>();
    context.groupIndices.forEach((group, row) => groups.set(group, [...(groups.get(group) ?? []), row]));
    const chunks = [...groups.entries()].map(([group, rows]) => ({
      rows,
      jobs: rows.flatMap((row) => this.imageSeeds(context.step, group, row).map((seed) => ({ row, seed }))),
    }));
    const fail = (row: number, stage: string, message: string) => {
      if (!failed.has(row)) failed.set(row, { stage, sample: row, message });
    };
    const render = async (chunk: (typeof chunks)[number]): Promise<(RenderedImage | null)[]> => {
      const started = performance.now();
      try {
        this.signal?.throwIfAborted();
        const out = await this.renderer.render(chunk.jobs.map((job) => context.completions[job.row]!), { seeds: chunk.jobs.map((job) => job.seed), ...(this.signal ? { signal: this.signal } : {}) });
        if (!Array.isArray(out) || out.length !== chunk.jobs.length) throw new Error(`renderer returned ${Array.isArray(out) ? out.length : typeof out} items for ${chunk.jobs.length} prompts`);
        return out.map((item, index) => {
          if (isImage(item)) return item;
          fail(chunk.jobs[index]!.row, 'rendering', errorText(item));
          return null;
        });
      } catch (error) {
        for (const job of chunk.jobs) fail(job.row, 'rendering', (error as Error).message);
        return chunk.jobs.map(() => null);
      } finally {
        this.report.timings.rendering += (performance.now() - started) / 1000;
      }
    };
    const score = async (chunk: (typeof chunks)[number], images: (RenderedImage | null)[]): Promise<(RewardComponents | null)[]> => {
      const started = performance.now();
      const present = images.map((image, index) => ({ image, index })).filter((entry): entry is { image: RenderedImage; index: number } => entry.image !== null);
      const result: (RewardComponents | null)[] = images.map(() => null);
      if (present.length === 0) return result;
      this.report.images += present.length;
      try {
        const rows = present.map((entry) => chunk.jobs[entry.index]!.row);
        // An empty rewrite is a valid (poor) answer, not a failure: its image comes from the empty
        // prompt and its similarity is measured against the original prompt.
        const texts = rows.map((row) => (context.completions[row]!.trim() === '' ? context.prompts[row]! : context.completions[row]!));
        const out = await this.imageRewards.components(
          present.map((entry) => entry.image),
          rows.map((row) => context.prompts[row]!),
          texts,
          this.signal,
        );
        if (!Array.isArray(out) || out.length !== present.length) throw new Error(`image reward returned ${Array.isArray(out) ? out.length : typeof out} items for ${present.length} images`);
        out.forEach((item, k) => {
          const row = rows[k]!;
          if (item instanceof Error) return fail(row, 'scoring', item.message);
          const bad = this.imageComponents.filter((name) => typeof item[name] !== 'number' || !Number.isFinite(item[name]));
          if (bad.length > 0) return fail(row, 'scoring', `non-finite or missing reward component(s) ${bad.join(', ')}`);
          result[present[k]!.index] = item;
        });
      } catch (error) {
        for (const entry of present) fail(chunk.jobs[entry.index]!.row, 'scoring', (error as Error).message);
      } finally {
        this.report.timings.scoring += (performance.now() - started) / 1000;
      }
      return result;
    };

    const perImage: (RewardComponents | null)[][] = [];
    let next = chunks.length > 0 ? render(chunks[0]!) : undefined;
    for (let c = 0; c < chunks.length; c++) {
      const images = await next!;
      // Render the next group while this one is scored.
      next = c + 1 < chunks.length ? render(chunks[c + 1]!) : undefined;
      perImage.push(await score(chunks[c]!, images));
    }
    const sums: (RewardComponents | null)[] = Array.from({ length: n }, () => null);
    const counts = new Array<number>(n).fill(0);
    chunks.forEach((chunk, c) =>
      chunk.jobs.forEach((job, j) => {
        const value = perImage[c]![j];
        if (value === null || value === undefined) return;
        const total = (sums[job.row] ??= {});
        for (const name of this.imageComponents) total[name] = (total[name] ?? 0) + value[name]!;
        counts[job.row]! += 1;
      }),
    );
    return sums.map((sum, row) => {
      // Every image of a rewrite must succeed: a partial mean would not compare with the group.
      if (sum === null || failed.has(row) || counts[row] !== this.config.diffusion_settings.images_per_prompt) return null;
      return Object.fromEntries(Object.entries(sum).map(([name, value]) => [name, value / counts[row]!]));
    });
  }
}
