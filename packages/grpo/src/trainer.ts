/**
 * GRPOTrainer: Group Relative Policy Optimization on any {@link PolicyEngine} and any reward
 * functions, following TRL's `GRPOTrainer` (v1.x) step by step:
 *
 * 1. Generation: take generationBatchSize / G prompts, sample G completions each (one seeded
 *    `policy.sample` call; seed drawn from the trainer RNG), score every reward function
 *    (concurrently), aggregate rewards and compute group-relative advantages
 *    ({@link aggregateRewards}). With `dynamicSampling` (DAPO), groups whose rewards have zero
 *    spread are dropped and more prompts are sampled, up to `maxGenerationBatches` rounds; if the
 *    batch is still short, dropped groups fill it (they carry zero advantages).
 * 2. The generation batch is shuffled (TRL `shuffle_sequence_dict`) and split into
 *    gradientAccumulationSteps micro-batches. Reference log-probs (β ≠ 0) and, when μ > 1, old
 *    log-probs are computed once per micro-batch with the sampling temperature (`logProbs`).
 * 3. μ = numIterations optimizer updates on the same batch. Each runs, per micro-batch,
 *    `forwardTrain` (per-token log-probs and entropy), {@link grpoLoss} here on the CPU (value and
 *    dL/dlogp per token) and `backward(dL/dlogp)` (the engine accumulates parameter gradients);
 *    then one `optimizerStep` (global-norm clipping and AdamW at the scheduled learning rate,
 *    transformers schedules from `lr-schedule.ts`), and optional reference sync
 *    ref ← α·π + (1−α)·ref every refModelSyncSteps (`syncFrom`).
 *
 * Departures from TRL: dynamic sampling is not in TRL; TRL counts `max_steps` in optimizer
 * updates whereas `maxSteps` here counts generation batches (the schedule spans maxSteps × μ
 * updates); `frac_reward_zero_std` always uses the group std (TRL uses the batch std under
 * scale_rewards='batch'); rows without any valid reward get advantage 0 (see advantages.ts);
 * AdamW's hyper-parameters belong to the engine (set when it is created), not to this config.
 */
import { aggregateRewards, nanMean, nanStd } from './advantages.js';
import { resolveGrpoConfig, type GRPOConfig, type GRPOConfigInput } from './config.js';
import { GrpoError } from './errors.js';
import { grpoLoss } from './loss.js';
import { learningRateAt, warmupStepsFromRatio } from './lr-schedule.js';
import { missingEngineMethods, type OptimizerStateData, type PerTokenResult, type PolicyEngine, type PolicySampleResult, type TokenBatch } from './policy-engine.js';
import { scoreRewards, toRewardFunction, type RewardFn, type RewardFunction } from './rewards.js';
import { SeededRng } from './rng.js';
import { TRAINER_STATE_VERSION, assertSameParameters, type GRPOTrainerState } from './state.js';

/** One dataset entry: a prompt string, or a record holding the prompt under `promptKey`. */
export type GRPODatasetEntry = string | Readonly<Record<string, unknown>>;

/** Options of {@link GRPOTrainer.create}. */
export interface GRPOTrainerOptions {
  /** The policy engine to train (not disposed by the trainer). */
  policy: PolicyEngine;
  /** Reward functions, named ({ name, fn }) or bare (named after the function). */
  rewardFuncs: ReadonlyArray<RewardFunction | RewardFn>;
  /** Training prompts. */
  dataset: ReadonlyArray<GRPODatasetEntry>;
  /** Configuration (defaults: {@link grpoConfigSchema}). */
  config?: GRPOConfigInput;
  /** Record key of the prompt (default: 'prompt', else 'user_prompt' when a record has no 'prompt'). */
  promptKey?: string;
  /**
   * Reference engine for β ≠ 0 (default: `await policy.clone()`). The trainer owns it and
   * disposes it in `dispose()`. Ignored (and disposed at once) when β = 0.
   */
  referencePolicy?: PolicyEngine;
}

/** Metrics of one trainer step, named like TRL's logs (plus a few extras documented in the README). */
export type GRPOMetrics = Record<string, number>;

/** Options of {@link GRPOTrainer.train}. */
export interface GRPOTrainOptions {
  /** Steps to run (default: until `maxSteps`). */
  steps?: number;
  /** Called after each step with its metrics. */
  onStep?: (metrics: GRPOMetrics, step: number) => void | Promise<void>;
  /** Stops between steps when aborted. */
  signal?: AbortSignal;
}

interface Group {
  prompt: string;
  record: Readonly<Record<string, unknown>>;
  promptIds: number[][];
  completionIds: number[][];
  texts: string[];
  truncated: boolean[];
  /** [K][G] */
  perFunc: Float64Array[];
  nullCounts: number[];
  invalidCounts: number[];
}

interface MicroBatch {
  batch: TokenBatch;
  /** True when every completion is empty (nothing to learn from). */
  empty: boolean;
  /** [N][Lc_i] 1 on loss tokens. */
  mask: Float32Array[];
  /** [N] */
  advantages: Float32Array;
  oldLogProbs?: Float32Array[];
  refLogProbs?: Float32Array[];
}

/** The GRPO trainer (see the file header). Create with {@link GRPOTrainer.create}. */
export class GRPOTrainer {
  /** The resolved configuration. */
  readonly config: GRPOConfig;
  /** The reward functions, named. */
  readonly rewardFuncs: readonly RewardFunction[];
  private readonly policy: PolicyEngine;
  private reference: PolicyEngine | undefined;
  private readonly rng: SeededRng;
  private readonly dataset: ReadonlyArray<GRPODatasetEntry>;
  private readonly promptKey: string | undefined;
  private readonly totalUpdates: number;
  private readonly warmupSteps: number;
  private stepCount = 0;
  private updates = 0;
  private numTokens = 0;
  private epoch = 0;
  private position = 0;
  private order: number[] = [];
  private disposed = false;

  private constructor(options: GRPOTrainerOptions, config: GRPOConfig, reference: PolicyEngine | undefined) {
    this.config = config;
    this.policy = options.policy;
    this.reference = reference;
    this.rewardFuncs = options.rewardFuncs.map((r, i) => toRewardFunction(r, i));
    const names = new Set<string>();
    for (const f of this.rewardFuncs) {
      if (names.has(f.name)) throw new GrpoError('GRPO_INVALID_ARGUMENT', `rewardFuncs: duplicate name "${f.name}"`);
      names.add(f.name);
    }
    this.dataset = options.dataset;
    this.promptKey = options.promptKey;
    this.rng = new SeededRng(config.seed);
    this.totalUpdates = config.maxSteps * config.numIterations;
    this.warmupSteps = config.warmupSteps > 0 ? config.warmupSteps : warmupStepsFromRatio(this.totalUpdates, config.warmupRatio);
  }

  /** Validate the options, clone the reference engine when β ≠ 0, and build the trainer. */
  static async create(options: GRPOTrainerOptions): Promise<GRPOTrainer> {
    if (options.rewardFuncs.length === 0) {
      throw new GrpoError('GRPO_INVALID_ARGUMENT', 'rewardFuncs: expected at least one reward function');
    }
    if (options.dataset.length === 0) throw new GrpoError('GRPO_EMPTY_DATASET', 'dataset: expected at least one prompt');
    const config = resolveGrpoConfig(options.config ?? {}, options.rewardFuncs.length);
    assertEngine(options.policy, 'policy');
    if (options.referencePolicy !== undefined) assertEngine(options.referencePolicy, 'referencePolicy');
    let reference: PolicyEngine | undefined;
    if (config.beta !== 0) {
      reference = options.referencePolicy ?? (await options.policy.clone());
    } else {
      options.referencePolicy?.dispose();
    }
    try {
      if (reference !== undefined) assertEngine(reference, 'policy.clone()');
      return new GRPOTrainer(options, config, reference);
    } catch (error) {
      if (options.referencePolicy === undefined) reference?.dispose();
      throw error;
    }
  }

  /** Trainer steps (generation batches) completed. */
  get step(): number {
    return this.stepCount;
  }

  /** Optimizer updates applied (the schedule position). */
  get optimizerStep(): number {
    return this.updates;
  }

  /** True while a reference model is held (β ≠ 0). */
  get hasReference(): boolean {
    return this.reference !== undefined;
  }

  /** Run steps until `maxSteps` (or `options.steps` more steps); returns every step's metrics. */
  async train(options: GRPOTrainOptions = {}): Promise<GRPOMetrics[]> {
    const target = options.steps === undefined ? this.config.maxSteps : this.stepCount + options.steps;
    const all: GRPOMetrics[] = [];
    while (this.stepCount < target && options.signal?.aborted !== true) {
      const metrics = await this.trainStep();
      all.push(metrics);
      await options.onStep?.(metrics, this.stepCount);
    }
    return all;
  }

  /** One trainer step: generate and score a batch, then μ optimizer updates. Returns its metrics. */
  async trainStep(): Promise<GRPOMetrics> {
    this.assertAlive();
    const start = performance.now();
    const cfg = this.config;
    const g = cfg.numGenerations;
    const numPrompts = cfg.generationBatchSize / g;
    const metrics: GRPOMetrics = {};

    // 1. Generation (with DAPO dynamic sampling when enabled).
    const kept: Group[] = [];
    const dropped: Group[] = [];
    let rounds = 0;
    let seenZeroStd = 0;
    do {
      rounds++;
      const groups = await this.generateGroups(numPrompts);
      const stats = aggregateRewards(groupsPerFunc(groups, this.rewardFuncs.length), g, this.aggregationOptions());
      groups.forEach((group, k) => {
        if (cfg.dynamicSampling && stats.zeroStdGroups[k]) {
          dropped.push(group);
          seenZeroStd++;
        } else {
          kept.push(group);
        }
      });
    } while (cfg.dynamicSampling && kept.length < numPrompts && rounds < cfg.maxGenerationBatches);
    const filled = Math.max(0, numPrompts - kept.length);
    const batch = [...kept.slice(0, numPrompts), ...dropped.slice(0, filled)];
    if (cfg.dynamicSampling) {
      metrics['dynamic_sampling/generation_rounds'] = rounds;
      metrics['dynamic_sampling/dropped_groups'] = seenZeroStd;
      metrics['dynamic_sampling/filled_zero_std_groups'] = filled;
    }

    // 2. Rewards, advantages and reward metrics on the training batch.
    const perFunc = groupsPerFunc(batch, this.rewardFuncs.length);
    const agg = aggregateRewards(perFunc, g, this.aggregationOptions());
    const rows = flattenRows(batch);
    const n = rows.completionIds.length;
    this.rewardFuncs.forEach((f, k) => {
      metrics[`rewards/${f.name}/mean`] = finiteOr0(nanMean(perFunc[k]!));
      metrics[`rewards/${f.name}/std`] = finiteOr0(nanStd(perFunc[k]!));
      metrics[`rewards/${f.name}/null_count`] = batch.reduce((s, grp) => s + grp.nullCounts[k]!, 0);
      metrics[`rewards/${f.name}/invalid_count`] = batch.reduce((s, grp) => s + grp.invalidCounts[k]!, 0);
    });
    metrics['reward'] = finiteOr0(nanMean(agg.rewards));
    metrics['reward_std'] = finiteOr0(cfg.scaleRewards === 'batch' ? nanStd(agg.rewards) : nanMean(agg.groupStds));
    metrics['frac_reward_zero_std'] = agg.zeroStdGroups.filter(Boolean).length / agg.zeroStdGroups.length;
    const lengths = rows.completionIds.map((ids) => ids.length);
    const terminated = lengths.filter((_, i) => !rows.truncated[i]);
    metrics['completions/mean_length'] = mean(lengths);
    metrics['completions/min_length'] = Math.min(...lengths);
    metrics['completions/max_length'] = Math.max(...lengths);
    metrics['completions/clipped_ratio'] = rows.truncated.filter(Boolean).length / n;
    metrics['completions/mean_terminated_length'] = terminated.length === 0 ? 0 : mean(terminated);
    metrics['completions/min_terminated_length'] = terminated.length === 0 ? 0 : Math.min(...terminated);
    metrics['completions/max_terminated_length'] = terminated.length === 0 ? 0 : Math.max(...terminated);

    // 3. Micro-batches (shuffled, TRL shuffle_sequence_dict), old/ref log-probs.
    const order = this.rng.shuffle(Array.from({ length: n }, (_, i) => i));
    const micro = n / cfg.gradientAccumulationSteps;
    const microBatches: MicroBatch[] = [];
    let numItems = 0;
    for (let start0 = 0; start0 < n; start0 += micro) {
      const idx = order.slice(start0, start0 + micro);
      const completionIds = idx.map((i) => rows.completionIds[i]!);
      const mask = idx.map((rowIndex, r) => {
        const masked = cfg.maskTruncatedCompletions && rows.truncated[rowIndex] === true;
        if (!masked) numItems += completionIds[r]!.length;
        return new Float32Array(completionIds[r]!.length).fill(masked ? 0 : 1);
      });
      microBatches.push({
        batch: { promptIds: idx.map((i) => rows.promptIds[i]!), completionIds },
        empty: completionIds.every((ids) => ids.length === 0),
        mask,
        advantages: Float32Array.from(idx, (i) => agg.advantages[i]!),
      });
    }
    for (const mb of microBatches) {
      if (mb.empty) continue;
      if (cfg.numIterations > 1) mb.oldLogProbs = await this.logProbsOf(this.policy, mb, 'policy.logProbs()');
      if (this.reference !== undefined) mb.refLogProbs = await this.logProbsOf(this.reference, mb, 'reference.logProbs()');
    }

    // 4. μ optimizer updates: forward, loss and dL/dlogp here, backward per micro-batch, one step.
    const sums: Record<string, number[]> = { kl: [], entropy: [], low: [], high: [], region: [] };
    const losses: number[] = [];
    const norms: number[] = [];
    let lr = 0;
    for (let iteration = 0; iteration < cfg.numIterations; iteration++) {
      let updateLoss = 0;
      try {
        for (const mb of microBatches) {
          if (mb.empty) continue;
          const out = await this.microBatchLoss(mb, numItems);
          updateLoss += out.loss;
          for (const [key, value] of Object.entries(out.stats)) if (!Number.isNaN(value)) sums[key]!.push(value);
          if (!Number.isFinite(out.loss)) {
            throw new GrpoError(
              'GRPO_NON_FINITE',
              `step ${this.stepCount}, update ${this.updates}: loss ${out.loss} is not finite; the update was not applied`,
            );
          }
          await this.policy.backward(out.gradLogProbs);
        }
      } catch (error) {
        await this.policy.zeroGrad();
        throw error;
      }
      // With every completion empty nothing was accumulated: the step sees zero gradients.
      lr = learningRateAt(this.updates, {
        learningRate: cfg.learningRate,
        schedulerType: cfg.lrSchedulerType,
        warmupSteps: this.warmupSteps,
        totalSteps: this.totalUpdates,
        minLearningRateRatio: cfg.minLearningRateRatio,
      });
      const { gradNorm } = await this.policy.optimizerStep({ learningRate: lr, maxGradNorm: cfg.maxGradNorm });
      if (!Number.isFinite(gradNorm)) {
        throw new GrpoError(
          'GRPO_NON_FINITE',
          `step ${this.stepCount}, update ${this.updates}: gradient norm ${gradNorm} is not finite (loss ${updateLoss}); the update was not applied`,
        );
      }
      this.updates++;
      losses.push(updateLoss);
      norms.push(gradNorm);
      if (cfg.syncRefModel && this.reference !== undefined && this.updates % cfg.refModelSyncSteps === 0) {
        await this.reference.syncFrom(this.policy, cfg.refModelMixupAlpha);
      }
    }

    this.stepCount++;
    if (this.reference !== undefined) metrics['kl'] = mean(sums['kl']!);
    if (sums['entropy']!.length > 0) metrics['entropy'] = mean(sums['entropy']!);
    metrics['clip_ratio/low_mean'] = mean(sums['low']!);
    metrics['clip_ratio/low_min'] = sums['low']!.length === 0 ? 0 : Math.min(...sums['low']!);
    metrics['clip_ratio/high_mean'] = mean(sums['high']!);
    metrics['clip_ratio/high_max'] = sums['high']!.length === 0 ? 0 : Math.max(...sums['high']!);
    metrics['clip_ratio/region_mean'] = mean(sums['region']!);
    metrics['loss'] = mean(losses);
    metrics['grad_norm'] = mean(norms);
    metrics['learning_rate'] = lr;
    metrics['num_tokens'] = this.numTokens;
    metrics['epoch'] = this.epoch + this.position / Math.max(1, this.order.length);
    metrics['step'] = this.stepCount;
    metrics['step_time'] = (performance.now() - start) / 1000;
    return metrics;
  }

  /**
   * Snapshot of everything needed to resume exactly (plain typed arrays + JSON-able fields): the
   * engines' `getOptimizerState()` (the reference's without moments) and the trainer's counters,
   * RNG and dataset cursor.
   */
  async getState(): Promise<GRPOTrainerState> {
    this.assertAlive();
    const policy = await this.policy.getOptimizerState();
    const reference = this.reference === undefined ? null : weightsOnly(await this.reference.getOptimizerState());
    return {
      version: TRAINER_STATE_VERSION,
      config: structuredClone(this.config),
      step: this.stepCount,
      optimizerStep: this.updates,
      numTokens: this.numTokens,
      rng: this.rng.getState(),
      dataset: { epoch: this.epoch, position: this.position, order: [...this.order], size: this.dataset.length },
      policy,
      reference,
    };
  }

  /**
   * Restore a snapshot from {@link getState} (same policy parameters, same dataset size, same β = 0
   * or ≠ 0). Everything is checked before anything changes: a state that does not fit leaves the
   * trainer and its engines as they were (GRPO_STATE_MISMATCH).
   */
  async setState(state: GRPOTrainerState): Promise<void> {
    this.assertAlive();
    if (state.version !== TRAINER_STATE_VERSION) {
      throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state: expected version ${TRAINER_STATE_VERSION}, got ${state.version}`);
    }
    if (state.dataset.size !== this.dataset.length) {
      throw new GrpoError(
        'GRPO_STATE_MISMATCH',
        `trainer state: saved for a dataset of ${state.dataset.size} prompts, this trainer has ${this.dataset.length}`,
      );
    }
    if ((state.reference === null) !== (this.reference === undefined)) {
      throw new GrpoError(
        'GRPO_STATE_MISMATCH',
        `trainer state: ${state.reference === null ? 'has no' : 'has a'} reference model but this trainer ${
          this.reference === undefined ? 'has none (beta = 0)' : 'has one (beta ≠ 0)'
        }`,
      );
    }
    if (state.rng.length !== 4 || (state.dataset.order.length !== this.dataset.length && state.dataset.order.length !== 0)) {
      throw new GrpoError('GRPO_STATE_MISMATCH', 'trainer state: malformed rng words or dataset order');
    }
    // The reference is a clone of the policy: its parameters must be the policy's. The policy
    // engine checks names and shapes against its own before changing anything.
    if (state.reference !== null) assertSameParameters(state.reference, state.policy, 'trainer state reference', "the state's policy");
    await this.restoreEngine(this.policy, state.policy, 'policy');
    if (this.reference !== undefined && state.reference !== null) await this.restoreEngine(this.reference, state.reference, 'reference');
    this.rng.setState(state.rng);
    this.stepCount = state.step;
    this.updates = state.optimizerStep;
    this.numTokens = state.numTokens;
    this.epoch = state.dataset.epoch;
    this.position = state.dataset.position;
    this.order = [...state.dataset.order];
  }

  /** Free the reference engine (the policy stays with its owner). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.reference?.dispose();
    this.reference = undefined;
  }

  private async restoreEngine(engine: PolicyEngine, state: OptimizerStateData, what: string): Promise<void> {
    try {
      await engine.setOptimizerState(state);
    } catch (error) {
      if (GrpoError.isInstance(error)) throw error;
      throw new GrpoError('GRPO_STATE_MISMATCH', `trainer state ${what}: ${(error as Error).message}`, { cause: error });
    }
  }

  private assertAlive(): void {
    if (this.disposed) throw new GrpoError('GRPO_DISPOSED', 'GRPOTrainer: used after dispose()');
  }

  private aggregationOptions(): Parameters<typeof aggregateRewards>[2] {
    return {
      scaleRewards: this.config.scaleRewards,
      aggregation: this.config.multiObjectiveAggregation,
      ...(this.config.rewardWeights === undefined ? {} : { rewardWeights: this.config.rewardWeights }),
    };
  }

  private promptOf(entry: GRPODatasetEntry, index: number): { prompt: string; record: Readonly<Record<string, unknown>> } {
    if (typeof entry === 'string') return { prompt: entry, record: { prompt: entry } };
    const key = this.promptKey ?? ('prompt' in entry ? 'prompt' : 'user_prompt');
    const prompt = entry[key];
    if (typeof prompt !== 'string') {
      throw new GrpoError('GRPO_INVALID_ARGUMENT', `dataset[${index}].${key}: expected a string prompt, got ${typeof prompt}`);
    }
    return { prompt, record: entry };
  }

  private nextEntries(count: number): { prompt: string; record: Readonly<Record<string, unknown>> }[] {
    const out: { prompt: string; record: Readonly<Record<string, unknown>> }[] = [];
    while (out.length < count) {
      if (this.position >= this.order.length) {
        if (this.order.length > 0) this.epoch++;
        this.order = Array.from({ length: this.dataset.length }, (_, i) => i);
        if (this.config.shuffleDataset) this.rng.shuffle(this.order);
        this.position = 0;
      }
      const index = this.order[this.position++]!;
      out.push(this.promptOf(this.dataset[index]!, index));
    }
    return out;
  }

  private async generateGroups(numPrompts: number): Promise<Group[]> {
    const cfg = this.config;
    const g = cfg.numGenerations;
    const entries = this.nextEntries(numPrompts);
    const seed = this.rng.nextUint32();
    const sample = await this.policy.sample(
      entries.map((e) => e.prompt),
      {
        numReturnSequences: g,
        maxNewTokens: cfg.maxCompletionLength,
        temperature: cfg.temperature,
        topK: cfg.topK,
        topP: cfg.topP,
        repetitionPenalty: cfg.repetitionPenalty,
        seed,
      },
    );
    checkSample(sample, numPrompts * g);
    for (let i = 0; i < sample.promptIds.length; i++) this.numTokens += sample.promptIds[i]!.length + sample.completionIds[i]!.length;
    const scores = await scoreRewards(this.rewardFuncs, {
      prompts: sample.texts.map((_, i) => entries[Math.floor(i / g)]!.prompt),
      completions: sample.texts,
      completionIds: sample.completionIds,
      promptIds: sample.promptIds,
      truncated: sample.truncated,
      records: sample.texts.map((_, i) => entries[Math.floor(i / g)]!.record),
      groupIndices: sample.texts.map((_, i) => Math.floor(i / g)),
      step: this.stepCount,
    });
    return entries.map((entry, k) => {
      const rows = (i: number): boolean => Math.floor(i / g) === k;
      const slice = <T>(a: T[]): T[] => a.filter((_, i) => rows(i));
      const perFunc = scores.perFunc.map((values) => values.slice(k * g, (k + 1) * g));
      return {
        prompt: entry.prompt,
        record: entry.record,
        promptIds: slice(sample.promptIds),
        completionIds: slice(sample.completionIds),
        texts: slice(sample.texts),
        truncated: slice(sample.truncated),
        perFunc,
        nullCounts: scores.kinds.map((kind) => countIn(kind.subarray(k * g, (k + 1) * g), (v) => v === 1)),
        invalidCounts: scores.kinds.map((kind) => countIn(kind.subarray(k * g, (k + 1) * g), (v) => v === 2)),
      };
    });
  }

  private async logProbsOf(engine: PolicyEngine, mb: MicroBatch, what: string): Promise<Float32Array[]> {
    const out = await engine.logProbs(mb.batch, { temperature: this.config.temperature });
    checkPerToken(out, mb.batch, what, false);
    return out.logProbs;
  }

  /** Forward one micro-batch and compute its loss, dL/dlogp per token and statistics. */
  private async microBatchLoss(
    mb: MicroBatch,
    numItems: number,
  ): Promise<{ loss: number; gradLogProbs: Float32Array[]; stats: Record<string, number> }> {
    const cfg = this.config;
    const forward = await this.policy.forwardTrain(mb.batch, { temperature: cfg.temperature, withEntropy: true });
    checkPerToken(forward, mb.batch, 'policy.forwardTrain()', true);
    const out = grpoLoss(
      {
        logProbs: forward.logProbs,
        ...(mb.oldLogProbs === undefined ? {} : { oldLogProbs: mb.oldLogProbs }),
        ...(mb.refLogProbs === undefined ? {} : { refLogProbs: mb.refLogProbs }),
        advantages: mb.advantages,
        mask: mb.mask,
      },
      {
        beta: cfg.beta,
        epsilon: cfg.epsilon,
        ...(cfg.epsilonHigh === undefined ? {} : { epsilonHigh: cfg.epsilonHigh }),
        ...(cfg.delta === undefined ? {} : { delta: cfg.delta }),
        importanceSamplingLevel: cfg.importanceSamplingLevel,
        lossType: cfg.lossType,
        gradientAccumulationSteps: cfg.gradientAccumulationSteps,
        maxCompletionLength: cfg.maxCompletionLength,
        numItemsInBatch: numItems,
      },
    );
    // the engine did not report entropy: NaN, and the metric is omitted
    let entropy = Number.NaN;
    if (forward.entropy !== undefined) {
      let sum = 0;
      let count = 0;
      forward.entropy.forEach((row, i) => {
        const m = mb.mask[i]!;
        for (let t = 0; t < row.length; t++) {
          sum += row[t]! * m[t]!;
          count += m[t]!;
        }
      });
      entropy = sum / Math.max(count, 1);
    }
    return {
      loss: out.loss,
      gradLogProbs: out.gradLogProbs,
      stats: { kl: out.kl ?? 0, entropy, low: out.clipLow, high: out.clipHigh, region: out.clipRegion },
    };
  }
}

function assertEngine(value: unknown, what: string): void {
  const missing = missingEngineMethods(value);
  if (missing.length > 0) {
    throw new GrpoError(
      'GRPO_POLICY_CONTRACT',
      `${what}: not a PolicyEngine (missing ${missing.join(', ')}); wrap a TensorFlow.js model with TfjsPolicyEngine from @vlm-grpo/vlm`,
    );
  }
}

/** An engine state without AdamW moments (what a frozen reference needs). */
function weightsOnly(state: OptimizerStateData): OptimizerStateData {
  return {
    step: state.step,
    parameters: Object.fromEntries(Object.entries(state.parameters).map(([name, p]) => [name, { shape: p.shape, weights: p.weights }])),
  };
}

function countIn(values: ArrayLike<number>, pred: (v: number) => boolean): number {
  let c = 0;
  for (let i = 0; i < values.length; i++) if (pred(values[i]!)) c++;
  return c;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? 0 : values.reduce((a, b) => a + b, 0) / values.length;
}

function finiteOr0(value: number): number {
  return Number.isFinite(value) ? value : 0;
}

/** [K][B*G] rewards of a list of groups, concatenated in group order. */
function groupsPerFunc(groups: readonly Group[], numFuncs: number): Float64Array[] {
  return Array.from({ length: numFuncs }, (_, k) => {
    const out = new Float64Array(groups.reduce((s, grp) => s + grp.perFunc[k]!.length, 0));
    let at = 0;
    for (const grp of groups) {
      out.set(grp.perFunc[k]!, at);
      at += grp.perFunc[k]!.length;
    }
    return out;
  });
}

function flattenRows(groups: readonly Group[]): { promptIds: number[][]; completionIds: number[][]; truncated: boolean[] } {
  return {
    promptIds: groups.flatMap((grp) => grp.promptIds),
    completionIds: groups.flatMap((grp) => grp.completionIds),
    truncated: groups.flatMap((grp) => grp.truncated),
  };
}

function checkSample(sample: PolicySampleResult, rows: number): void {
  const fields = ['promptIds', 'completionIds', 'texts', 'truncated'] as const;
  for (const field of fields) {
    const value = sample[field] as unknown;
    if (!Array.isArray(value) || value.length !== rows) {
      throw new GrpoError(
        'GRPO_POLICY_CONTRACT',
        `policy.sample(): ${field} must have ${rows} rows (prompts × numGenerations, prompt-major), got ${
          Array.isArray(value) ? value.length : typeof value
        }`,
      );
    }
  }
}

function checkPerToken(out: PerTokenResult, batch: TokenBatch, what: string, entropy: boolean): void {
  const check = (rows: readonly Float32Array[] | undefined, field: string): void => {
    if (rows === undefined) return;
    const bad =
      !Array.isArray(rows) || rows.length !== batch.completionIds.length
        ? `${Array.isArray(rows) ? rows.length : typeof rows} rows`
        : rows.map((row, i) => (row?.length === batch.completionIds[i]!.length ? '' : `row ${i} has ${row?.length} values`)).find((x) => x !== '');
    if (bad !== undefined && bad !== '') {
      throw new GrpoError(
        'GRPO_POLICY_CONTRACT',
        `${what}: expected ${field} as ${batch.completionIds.length} rows of completionIds[i].length values, got ${bad}`,
      );
    }
  };
  check(out.logProbs, 'logProbs');
  if (out.logProbs === undefined) throw new GrpoError('GRPO_POLICY_CONTRACT', `${what}: returned no logProbs`);
  if (entropy) check(out.entropy, 'entropy');
}
