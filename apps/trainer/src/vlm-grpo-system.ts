/**
 * `VLMGRPOSystem`: the end-to-end GRPO system (the original design's class).
 *
 * user prompt → policy (G rewrites) → diffusion images (same noise per group) → CLIP rewards
 * against the ORIGINAL prompt + text rewards → GRPO update; validation every N iterations;
 * checkpoints, results and tracking in one run folder.
 *
 * Composition:
 * - Data: `PromptDataset` from `data_settings.train_file`; the GRPO trainer's dataset is the
 *   balanced order of `PromptSampler` (round-robin over `balance_by` strata, one order per epoch,
 *   `deriveSeed(seed, epoch)`) laid out for `dataset_epochs` epochs and read in order
 *   (`shuffleDataset: false`), so every batch is balanced and the cursor is part of the GRPO state.
 * - GRPO: `GRPOTrainer` (@vlm-grpo/grpo) with the reward functions of `TrainingRewards`.
 * - Validation: `Validator` (@vlm-grpo/eval) on `validation_settings.num_prompts` balanced
 *   validation prompts, with the policy (greedy), the renderer and a scorer whose total is the
 *   training reward's weighted sum (image components + text rewards, unnormalised).
 * - Resume: a checkpoint holds the GRPO state (policy, reference, AdamW, RNG, data cursor), the
 *   application state (sampler position, failure counts, reward normalisers, best validation,
 *   metrics so far) and an HF-compatible copy of the policy. Every random choice derives from
 *   `training_settings.seed` and the iteration, so a resumed run is identical to an uninterrupted one.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';

import { DataError, PromptDataset, PromptSampler, ResultWriter, RUN_MARKER_FILE, balancedOrder, ensureDirectory, loadPrompts, type LoadPromptsOptions, type PromptRecord, type RunMarker } from '@vlm-grpo/data';
import type { ValidationRun, Validator } from '@vlm-grpo/eval';
import type { GRPOConfigInput, GRPOTrainer, GRPOMetrics } from '@vlm-grpo/grpo';

import { trainerConfigSchema, type TrainerConfig, type TrainerConfigInput } from './config/config-schema.js';
import { mergeConfigLayers, readConfigFile, resolveTrainerConfig, type JsonObject } from './config/load-config.js';
import { TrainerError } from './errors.js';
import { finalResultsSchema, metricsLineSchema, trainerStateSchema, type FinalResults, type MetricsLine, type StageTimings, type TrainerState, type ValidationSummary } from './results/schemas.js';
import { lengthInRangeReward, subjectKeptReward } from './rewards/text-rewards.js';
import { MAX_COMBINED_REWARD, TrainingRewards } from './rewards/training-rewards.js';
import { CheckpointManager, readCheckpointManifest, readLargeFile, type CheckpointManifest } from './runtime/checkpoints.js';
import { FailureTracker, type SampleFailure } from './runtime/failures.js';
import { Logger } from './runtime/logger.js';
import { Progress, type ProgressStream } from './runtime/progress.js';
import { chunkedSampling } from './rollout/chunked-policy.js';
import { LocalRolloutBackend } from './rollout/local-backend.js';
import { imageComponentsOf, type RolloutBackend } from './rollout/rollout-backend.js';
import { RUN_LOCK_FILE, RunLock } from './runtime/run-lock.js';
import { StopSignal } from './runtime/stop-signal.js';
import { loadComponents } from './system/load-components.js';
import { IMAGE_REWARD_NAMES, type ComponentScope, type ImageRenderer, type ImageRewardModel, type RenderedImage, type SystemComponents, type TrainablePolicy } from './system/ports.js';
import { WandbTracker } from './tracking/wandb.js';

/** Files of a run folder. */
export const RUN_FILES = {
  log: 'vlm_grpo_training.log',
  metrics: 'metrics.jsonl',
  finalResults: 'final_results.json',
  bestModel: 'best_model',
  report: 'report.html',
} as const;

/** Options of {@link VLMGRPOSystem}. */
export interface VLMGRPOSystemOptions {
  /** Overrides applied last (dotted or nested keys), as CLI flags are (default: none). */
  overrides?: JsonObject;
  /** Base configuration file (default: `config/default_config.json`; `null`: schema defaults only). */
  defaultConfigFile?: string | null;
  /** `true`: continue from the latest checkpoint of the run folder; a path: from that checkpoint (default: false). */
  resume?: boolean | string;
  /** Folder relative paths of the configuration resolve against (default: `process.cwd()`). */
  baseDirectory?: string;
  /** Logger (default: console + the run folder's log file, at `logging_settings.level`). */
  logger?: Logger;
  /** Component factory, for tests or other models (default: the @vlm-grpo packages). */
  loadComponents?: (config: TrainerConfig, logger: Logger, scope: ComponentScope) => Promise<SystemComponents>;
  /** Stop control (default: SIGINT/SIGTERM handlers installed during `runTraining`). */
  stopSignal?: StopSignal;
  /** Where the progress bar is drawn (default: process.stdout). */
  progressStream?: ProgressStream & { isTTY?: boolean };
  /** Called after every iteration (tests use it to interrupt at a given point). */
  onIteration?: (iteration: number, line: MetricsLine) => void | Promise<void>;
  /**
   * Resume even when this invocation changes what the run trains (learning rate, batch size, G,
   * models, rewards…: every key outside {@link RESUME_ADJUSTABLE_KEYS}); the CLI's
   * `--allow-config-change` (default: false, which refuses such a resume naming the keys).
   */
  allowConfigChange?: boolean;
}

/** The run's effective configuration, stored in the run folder and in every checkpoint. */
export const RUN_CONFIG_FILE = 'run_config.json';

/**
 * Configuration keys (dotted prefixes) that a resume may change without `allowConfigChange`:
 * they extend or observe the run without changing what one iteration computes.
 */
export const RESUME_ADJUSTABLE_KEYS = [
  'description',
  'training_settings.num_iterations',
  'training_settings.validation_every',
  'training_settings.checkpoint_every',
  'training_settings.keep_checkpoints',
  'training_settings.max_failure_fraction',
  'training_settings.max_failed_iterations',
  'training_settings.gradient_checkpointing',
  'model_settings.device',
  'model_settings.policy_backend',
  'model_settings.cache_dir',
  'model_settings.local_files_only',
  'output_settings.',
  'logging_settings.',
  'tracking.',
] as const;

/** Dotted leaf keys of a configuration object with their values (arrays compared as JSON). */
function flattenConfig(value: unknown, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    for (const [key, child] of Object.entries(value)) for (const [path, leaf] of flattenConfig(child, prefix === '' ? key : `${prefix}.${key}`)) out.set(path, leaf);
  } else {
    out.set(prefix, JSON.stringify(value) ?? 'undefined');
  }
  return out;
}

/** One rewrite of {@link VLMGRPOSystem.enhance}. */
export interface EnhanceOutput {
  prompt: string;
  enhanced: string;
  /** True when the policy's text was replaced by a fallback. */
  fallback: boolean;
  /** Why it fell back. */
  reason: string | null;
}

/** Result of {@link VLMGRPOSystem.evaluate}. */
export interface EvaluationOutput {
  summary: ValidationSummary;
  /** The run folder of the evaluation. */
  directory: string;
}

const GRPO_STATE_JSON = 'trainer_state.json';
/**
 * File of part `p` of the GRPO state's data: `trainer_state.bin`, then `trainer_state.part1.bin`, …
 * (parts of ≤ 1 GiB: one JavaScript array holds at most 4 GiB, and a real-size policy's state is
 * larger; @vlm-grpo/grpo's encodeTrainerState).
 */
const grpoStatePartFile = (p: number): string => (p === 0 ? GRPO_STATE_BIN : `trainer_state.part${p}.bin`);
const GRPO_STATE_BIN = 'trainer_state.bin';
const APP_STATE = 'state.json';
const POLICY_FOLDER = 'policy';

const mean = (values: readonly number[]): number => (values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length);

/** The GRPO training system (see the file header). */
export class VLMGRPOSystem {
  private readonly source: string | TrainerConfigInput | undefined;
  private readonly options: VLMGRPOSystemOptions;
  private resolved: TrainerConfig | undefined;
  private components: SystemComponents | undefined;
  private logger: Logger;
  private readonly ownLogger: boolean;
  private train: PromptDataset | undefined;
  private validationRecords: PromptRecord[] = [];
  private initSeconds = 0;
  /** The configuration with absolute model paths (what components and rollout workers load). */
  private absolute: TrainerConfig | undefined;
  /** The open Redis rollout backend (validation's renderer and scorer forward to it). */
  private remote: RolloutBackend | undefined;

  /**
   * @param configPathOrObject a configuration file path, a (partial) configuration object, or
   *   nothing for the default configuration.
   */
  constructor(configPathOrObject?: string | TrainerConfigInput, options: VLMGRPOSystemOptions = {}) {
    this.source = configPathOrObject;
    this.options = options;
    this.ownLogger = options.logger === undefined;
    this.logger = options.logger ?? new Logger();
  }

  /** The resolved configuration (after {@link loadConfig} or {@link initializeComponents}). */
  get config(): TrainerConfig {
    if (!this.resolved) throw new TrainerError('TRAINER_NOT_INITIALIZED', 'VLMGRPOSystem: call initializeComponents() (or loadConfig()) first');
    return this.resolved;
  }

  /** Resolve the configuration layers (idempotent). */
  async loadConfig(): Promise<TrainerConfig> {
    if (this.resolved) return this.resolved;
    const config = await resolveTrainerConfig({
      ...(this.options.defaultConfigFile === undefined ? {} : { defaultConfigFile: this.options.defaultConfigFile }),
      ...(this.source === undefined ? {} : { config: this.source as string | JsonObject }),
      ...(this.options.overrides ? { overrides: this.options.overrides } : {}),
    });
    this.resolved = config;
    if (this.ownLogger) this.logger.level = config.logging_settings.level;
    return config;
  }

  /** Absolute path of a configured path. */
  private path(path: string): string {
    return isAbsolute(path) ? path : resolve(this.options.baseDirectory ?? process.cwd(), path);
  }

  /**
   * Load the policy, diffusion, CLIP and data (device fallbacks are logged). With `scope:
   * 'policy'` only the policy is loaded (what `enhance` needs); a later call loads the rest.
   */
  async initializeComponents(scope: ComponentScope = 'all'): Promise<void> {
    if (this.components && (scope === 'policy' || this.components.renderer !== undefined)) return;
    if (this.components) await this.dispose();
    const started = performance.now();
    const config = await this.loadConfig();
    const absolute: TrainerConfig = {
      ...config,
      model_settings: {
        ...config.model_settings,
        vlm_model: this.localOrHub(config.model_settings.vlm_model),
        sd_model: this.localOrHub(config.model_settings.sd_model),
        clip_model: this.localOrHub(config.model_settings.clip_model),
      },
      // a relative head path is relative to the base directory, like every configured path
      reward_settings: {
        ...config.reward_settings,
        aesthetic: { ...config.reward_settings.aesthetic, head_path: config.reward_settings.aesthetic.head_path === null ? null : this.path(config.reward_settings.aesthetic.head_path) },
      },
    };
    this.logger.info(`loading data: ${config.data_settings.train_file}, ${config.data_settings.val_file}`);
    const loadOptions = { mode: config.data_settings.skip_invalid ? 'skipInvalid' : 'strict', duplicates: config.data_settings.drop_duplicates ? 'drop' : 'report' } as const;
    this.train = await this.loadPromptFile(this.path(config.data_settings.train_file), loadOptions);
    const validation = await this.loadPromptFile(this.path(config.data_settings.val_file), loadOptions);
    const wanted = config.validation_settings.num_prompts === 0 ? validation.size : Math.min(config.validation_settings.num_prompts, validation.size);
    const order = config.data_settings.balance_by === 'none' ? validation.epochOrder(config.training_settings.seed, 0) : balancedOrder(validation.records, config.data_settings.balance_by, config.training_settings.seed, 0);
    this.validationRecords = order.slice(0, wanted).map((index) => validation.records[index]!);
    this.logger.info(`data: ${this.train.size} training prompts, ${this.validationRecords.length} of ${validation.size} validation prompts used`);
    const factory = this.options.loadComponents ?? loadComponents;
    this.absolute = absolute;
    const remote = config.rollout_settings.backend === 'redis' && scope === 'all';
    // With Redis rollouts the workers load diffusion and CLIP; this process needs only the policy.
    const loaded = await factory(absolute, this.logger, remote ? 'policy' : scope);
    this.components = remote ? this.remoteComponents(loaded) : loaded;
    const devices = this.components.devices;
    this.logger.info(`devices: policy ${devices.policy}, diffusion ${devices.diffusion}, CLIP ${devices.clip}`);
    this.initSeconds = (performance.now() - started) / 1000;
  }

  /** The loaded policy with a renderer and image rewards that forward to the Redis rollout backend once open. */
  private remoteComponents(loaded: SystemComponents): SystemComponents {
    const remote = (): RolloutBackend => {
      if (!this.remote) throw new TrainerError('TRAINER_NOT_INITIALIZED', 'rollouts: the Redis rollout backend is not open (runTraining and evaluate open it)');
      return this.remote;
    };
    return {
      policy: loaded.policy,
      renderer: { render: (prompts, options) => remote().renderer.render(prompts, options) },
      imageRewards: { components: (images, originals, prompts, signal) => remote().imageRewards.components(images, originals, prompts, signal) },
      devices: { ...loaded.devices, diffusion: 'redis workers', clip: 'redis workers' },
      dispose: () => loaded.dispose(),
    };
  }

  /**
   * Load a prompt file; every line dropped (`skip_invalid`, `drop_duplicates`) is logged with its
   * file:line, and a file without records fails naming the file (DATA_EMPTY_DATASET).
   */
  private async loadPromptFile(file: string, options: LoadPromptsOptions): Promise<PromptDataset> {
    const loaded = await loadPrompts(file, options);
    const shown = 20;
    for (const issue of loaded.skipped.slice(0, shown)) this.logger.warning(`data: skipped invalid line ${issue.file}:${issue.line}: ${issue.message}`);
    if (loaded.invalidCount > shown) this.logger.warning(`data: … and ${loaded.invalidCount - shown} more invalid lines skipped in ${file}`);
    if (options.duplicates === 'drop') {
      for (const duplicate of loaded.duplicates.slice(0, shown)) this.logger.info(`data: dropped duplicate prompt ${file}:${duplicate.line} (same as line ${duplicate.firstLine}): ${JSON.stringify(duplicate.userPrompt.slice(0, 60))}`);
      if (loaded.duplicates.length > shown) this.logger.info(`data: … and ${loaded.duplicates.length - shown} more duplicate prompts dropped in ${file}`);
    } else if (loaded.duplicates.length > 0) {
      this.logger.debug(`data: ${loaded.duplicates.length} repeated prompts kept in ${file} (first at line ${loaded.duplicates[0]!.line}); data_settings.drop_duplicates drops them`);
    }
    if (loaded.invalidCount > 0 || (options.duplicates === 'drop' && loaded.duplicates.length > 0)) {
      this.logger.info(`data: ${file}: ${loaded.records.length} records kept, ${loaded.invalidCount} invalid lines skipped${options.duplicates === 'drop' ? `, ${loaded.duplicates.length} duplicates dropped` : ''}`);
    }
    return new PromptDataset(loaded.records);
  }

  /** The rollout backend of the configuration: local over the loaded models, or Redis workers (opened for `runId`). */
  private async openRollouts(runId: string): Promise<RolloutBackend> {
    const components = this.requireComponents();
    if (this.config.rollout_settings.backend === 'local') return new LocalRolloutBackend(components, imageComponentsOf(this.config));
    const { RedisRolloutBackend } = await import('./rollout/redis-backend.js');
    this.remote = await RedisRolloutBackend.open({ config: this.absolute!, logger: this.logger, runId });
    return this.remote;
  }

  private async closeRollouts(rollouts: RolloutBackend): Promise<void> {
    await rollouts.close().catch((error: unknown) => this.logger.warning(`rollouts: closing: ${(error as Error).message}`));
    if (this.remote === rollouts) this.remote = undefined;
  }

  /**
   * A configured model: an existing local folder always wins (relative paths resolve from the
   * working directory, e.g. `vlm_grpo_results/best_model`); else a hub id (`org/name`) stays as
   * it is; anything else is a path, resolved so that the error names the absolute folder.
   */
  private localOrHub(value: string): string {
    const local = this.path(value);
    if (existsSync(local) || isAbsolute(value) || value.startsWith('.') || !/^[\w.-]+\/[\w.-]+$/u.test(value)) return local;
    return value;
  }

  private requireComponents(): SystemComponents & { renderer: ImageRenderer; imageRewards: ImageRewardModel } {
    const components = this.components;
    if (!components || !this.train || !components.renderer || !components.imageRewards) {
      throw new TrainerError('TRAINER_NOT_INITIALIZED', 'VLMGRPOSystem: call initializeComponents() first');
    }
    return components as SystemComponents & { renderer: ImageRenderer; imageRewards: ImageRewardModel };
  }

  /** Rewrite prompts with the policy (greedy, fallbacks reported). */
  async enhance(prompts: readonly string[]): Promise<EnhanceOutput[]> {
    if (prompts.length === 0) throw new TrainerError('TRAINER_INVALID_ARGUMENT', 'enhance: give at least one prompt');
    await this.initializeComponents('policy');
    const policy = this.components!.policy;
    const out = await policy.enhancePrompts([...prompts], { temperature: 0, maxNewTokens: this.config.generation_settings.max_new_tokens, seed: this.config.training_settings.seed });
    return out.map((item, index) => {
      const prompt = prompts[index]!;
      if (item instanceof Error) return { prompt, enhanced: prompt, fallback: true, reason: item.message };
      if (typeof item === 'string') return { prompt, enhanced: item, fallback: false, reason: null };
      return { prompt, enhanced: item.text, fallback: item.fallback?.used ?? false, reason: item.fallback?.reason ?? null };
    });
  }

  /** Validate the configured policy once (original vs enhanced) into `<output_dir>/evaluation`. */
  async evaluate(): Promise<EvaluationOutput> {
    await this.initializeComponents();
    const directory = join(this.path(this.config.output_settings.output_dir), 'evaluation');
    const runId = `evaluation-${Date.now()}`;
    const writer = await ResultWriter.open(directory, { runId, overwrite: true });
    if (this.logger.file === undefined) this.logger.attachFile(join(directory, this.config.logging_settings.log_file));
    let rollouts: RolloutBackend | undefined;
    try {
      rollouts = await this.openRollouts(runId);
      const { summary } = await this.runValidation(0, writer, undefined);
      return { summary, directory };
    } finally {
      if (rollouts) await this.closeRollouts(rollouts);
      await writer.close();
    }
  }

  /** Free every model. */
  async dispose(): Promise<void> {
    await this.components?.dispose();
    this.components = undefined;
  }

  /** The validator over the current policy (the eval package, adapted). */
  private async validator(): Promise<Validator> {
    const { policy, renderer, imageRewards } = this.requireComponents();
    const config = this.config;
    const rewards = config.reward_settings;
    const evalModule = await import('@vlm-grpo/eval');
    const maxNewTokens = config.generation_settings.max_new_tokens;
    const scorer = {
      // Total = the training reward's weighted sum, unnormalised, so that validations compare across iterations.
      score: async (images: RenderedImage[], options: { originalPrompts: string[]; enhancedPrompts: string[]; signal?: AbortSignal }) => {
        const components = await imageRewards.components(images, options.originalPrompts, options.enhancedPrompts, options.signal);
        return components.map((item, index) => {
          if (item instanceof Error) return item;
          const parts: Record<string, number> = {};
          let total = 0;
          for (const name of IMAGE_REWARD_NAMES) {
            if (rewards[name].weight > 0 && typeof item[name] === 'number') {
              parts[name] = item[name]!;
              total += rewards[name].weight * item[name]!;
            }
          }
          const text = options.enhancedPrompts[index]!;
          if (rewards.length_in_range.weight > 0) {
            parts['length_in_range'] = lengthInRangeReward(text, rewards.length_in_range.min_words, rewards.length_in_range.max_words);
            total += rewards.length_in_range.weight * parts['length_in_range'];
          }
          if (rewards.subject_kept.weight > 0) {
            parts['subject_kept'] = subjectKeptReward(options.originalPrompts[index]!, text);
            total += rewards.subject_kept.weight * parts['subject_kept'];
          }
          // An overflowing weighted sum is a failed item, never an Infinity (or 0) in the results.
          if (!Number.isFinite(total) || Math.abs(total) > MAX_COMBINED_REWARD) return new Error(`the combined reward is ${total}: not finite or beyond ±${MAX_COMBINED_REWARD} (check the reward_settings weights)`);
          return { total, components: parts };
        });
      },
    };
    const enhancer = {
      enhancePrompts: (prompts: string[], options: { seed?: number; signal?: AbortSignal } = {}) =>
        policy.enhancePrompts(prompts, { temperature: 0, maxNewTokens, ...(options.seed === undefined ? {} : { seed: options.seed }), ...(options.signal ? { signal: options.signal } : {}) }),
    };
    return new evalModule.Validator({
      enhancer,
      renderer: renderer satisfies ImageRenderer,
      scorer,
      seed: config.training_settings.seed,
      successThreshold: config.validation_settings.success_threshold,
      improvementMargin: config.validation_settings.improvement_margin,
      imagesPerPrompt: config.diffusion_settings.images_per_prompt,
      batchSize: Math.max(1, config.training_settings.batch_size),
      contactSheet: config.validation_settings.save_images,
      saveImages: config.validation_settings.save_images,
      report: { metricsFile: RUN_FILES.metrics, fileName: RUN_FILES.report },
      logger: { warn: (message: string) => this.logger.warning(`validation: ${message}`), info: (message: string) => this.logger.debug(`validation: ${message}`) },
    });
  }

  /** Validate at `iteration`; returns the summary and the values to log to W&B for it. */
  private async runValidation(iteration: number, writer: ResultWriter, tracker: WandbTracker | undefined, signal?: AbortSignal): Promise<{ summary: ValidationSummary; tracking: Record<string, unknown> }> {
    const validator = await this.validator();
    this.logger.info(`validation at iteration ${iteration} on ${this.validationRecords.length} prompts`);
    const run: ValidationRun = await validator.validate(this.validationRecords, { iteration, writer, ...(signal ? { signal } : {}) });
    for (const warning of run.outputWarnings) this.logger.warning(`validation output: ${warning}`);
    const metrics = run.result.metrics;
    const summary: ValidationSummary = {
      iteration,
      file: run.files.result === null ? null : relative(writer.directory, run.files.result),
      evaluated: run.result.counts.evaluated,
      failed: run.result.counts.failed,
      original_mean_reward: metrics.original.reward.mean,
      enhanced_mean_reward: metrics.enhanced.reward.mean,
      mean_improvement: metrics.mean_improvement,
      win_rate: metrics.win_rate,
      success_rate: metrics.success_rate,
      fallback_rate: metrics.fallback_rate,
    };
    const format = (value: number | null, digits = 4) => (value === null ? 'n/a' : value.toFixed(digits));
    this.logger.info(
      `validation ${iteration}: enhanced reward ${format(summary.enhanced_mean_reward)} vs original ${format(summary.original_mean_reward)}, ` +
        `win rate ${format(summary.win_rate, 3)}, success rate ${format(summary.success_rate, 3)}, fallback rate ${format(summary.fallback_rate, 3)}, failed ${summary.failed}`,
    );
    const tracking: Record<string, unknown> = {};
    if (tracker?.enabled) {
      for (const [key, value] of Object.entries(summary)) if (typeof value === 'number' && key !== 'iteration') tracking[`validation/${key}`] = value;
      const logImages = this.config.tracking.wandb.log_images;
      const { encodePng } = await import('@vlm-grpo/eval');
      const rows = [];
      for (const pair of run.pairs) {
        const item = pair.item;
        const image = async (list: RenderedImage[]) => {
          const first = list[0];
          if (!first || !logImages) return null;
          return { png: await encodePng(first), width: first.width, height: first.height };
        };
        rows.push({
          cells: [
            item.user_prompt,
            item.enhanced_prompt ?? '',
            item.status === 'ok' ? item.outcome : `failed (${item.stage})`,
            item.status === 'ok' ? item.original.total : null,
            item.status === 'ok' ? item.enhanced.total : null,
            await image(pair.originalImages),
            await image(pair.enhancedImages),
          ],
        });
      }
      const table = await tracker.uploadTable('validation/samples', ['prompt', 'rewrite', 'outcome', 'original_reward', 'enhanced_reward', 'original_image', 'enhanced_image'], rows, iteration, logImages);
      if (table) tracking['validation/samples'] = table;
    }
    return { summary, tracking };
  }

  private grpoConfig(rewards: TrainingRewards): GRPOConfigInput {
    const t = this.config.training_settings;
    const g = this.config.generation_settings;
    return {
      numGenerations: t.num_generations,
      generationBatchSize: t.batch_size * t.num_generations,
      gradientAccumulationSteps: t.gradient_accumulation_steps,
      numIterations: t.num_inner_iterations,
      maxSteps: t.num_iterations,
      maxCompletionLength: g.max_new_tokens,
      temperature: g.temperature,
      topK: g.top_k,
      topP: g.top_p,
      repetitionPenalty: g.repetition_penalty,
      learningRate: t.learning_rate,
      lrSchedulerType: t.lr_scheduler === 'constant' && t.warmup_steps > 0 ? 'constant_with_warmup' : t.lr_scheduler,
      warmupSteps: t.warmup_steps,
      maxGradNorm: t.max_grad_norm,
      beta: t.beta,
      epsilon: t.epsilon,
      ...(t.epsilon_high === null ? {} : { epsilonHigh: t.epsilon_high }),
      ...(t.delta === null ? {} : { delta: t.delta }),
      importanceSamplingLevel: t.importance_sampling_level,
      lossType: t.loss_type,
      scaleRewards: t.scale_rewards,
      multiObjectiveAggregation: this.config.reward_settings.aggregation === 'normalize_then_sum' ? 'normalizeThenSum' : 'sumThenNormalize',
      rewardWeights: rewards.weights,
      maskTruncatedCompletions: t.mask_truncated_completions,
      syncRefModel: t.ref_model_sync.enabled,
      refModelMixupAlpha: t.ref_model_sync.alpha,
      refModelSyncSteps: t.ref_model_sync.every_steps,
      dynamicSampling: t.dynamic_sampling.enabled,
      maxGenerationBatches: 1 + t.dynamic_sampling.max_refill_rounds,
      shuffleDataset: false,
      seed: t.seed,
    };
  }

  /**
   * The GRPO dataset: `epochs` epochs of the balanced prompt stream of `PromptSampler` (one
   * sampler batch of the dataset's size is exactly one epoch in the sampler's order).
   */
  private balancedDataset(epochs: number): PromptRecord[] {
    const train = this.train!;
    const sampler = new PromptSampler(train, { batchSize: train.size, seed: this.config.training_settings.seed, balanceBy: this.config.data_settings.balance_by });
    return Array.from({ length: epochs }, () => sampler.next()).flat();
  }

  /** Sampler position after `consumed` prompts (for checkpoints and logs). */
  private samplerState(consumed: number): TrainerState['sampler'] {
    const size = this.train!.size;
    const batch = this.config.training_settings.batch_size;
    return { epoch: Math.floor(consumed / size), offset: consumed % size, batchesDrawn: Math.floor(consumed / batch) };
  }

  /** Find the run id and checkpoint to resume from. */
  private async resumePoint(outputDir: string): Promise<{ runId: string; checkpoint: string | undefined }> {
    const resume = this.options.resume ?? false;
    const marker = await readFile(join(outputDir, RUN_MARKER_FILE), 'utf8').then((text) => JSON.parse(text) as RunMarker, () => undefined);
    if (resume === false) return { runId: `run-${new Date().toISOString().replace(/[:.]/gu, '-')}-${randomBytes(3).toString('hex')}`, checkpoint: undefined };
    if (!marker) throw new TrainerError('TRAINER_CHECKPOINT_NOT_FOUND', `--resume: ${outputDir} is not a vlm-grpo run folder (no ${RUN_MARKER_FILE}); start a new run without --resume or pass --output-dir of the run to continue`);
    const manager = new CheckpointManager(outputDir, { keep: this.config.training_settings.keep_checkpoints, logger: this.logger });
    if (typeof resume === 'string') {
      const folder = this.path(resume);
      const manifest = await readCheckpointManifest(folder);
      if (!manifest) throw new TrainerError('TRAINER_CHECKPOINT_NOT_FOUND', `--resume=${resume}: ${folder} is not a complete checkpoint (no valid checkpoint.json)`);
      const verified = await manager.verify({ iteration: manifest.iteration, path: folder, manifest });
      if (!verified.ok) throw new TrainerError('TRAINER_CHECKPOINT_FAILED', `--resume=${resume}: the checkpoint is damaged: ${verified.file}: ${verified.problem}; resume from another checkpoint (plain --resume takes the newest good one)`);
      return { runId: marker.runId, checkpoint: folder };
    }
    const latest = await manager.latestVerified();
    if (!latest) this.logger.warning(`--resume: ${outputDir} has no complete checkpoint yet; starting run ${marker.runId} from iteration 0`);
    return { runId: marker.runId, checkpoint: latest?.path };
  }

  /**
   * Run GRPO training to `num_iterations` (or until a stop signal or too many failures).
   * Returns the final results (also written to `final_results.json`).
   * @throws TrainerError `TRAINER_TOO_MANY_FAILURES` after writing a checkpoint and the results.
   */
  async runTraining(): Promise<FinalResults> {
    await this.loadConfig();
    // Before any model loads: the output folder must be creatable and writable, and not in use.
    const outputDir = this.path(this.config.output_settings.output_dir);
    await ensureDirectory(outputDir);
    const lock = await RunLock.acquire(outputDir, { logger: this.logger, purpose: 'train' });
    try {
      return await this.trainLocked(outputDir);
    } finally {
      await lock.release();
    }
  }

  /**
   * Resume with the run's own configuration (see {@link RUN_CONFIG_FILE}): the effective
   * configuration stored with the checkpoint, with this invocation's explicit layers (its config
   * file or object, and its flags) applied on top. Every changed key is logged; changes outside
   * {@link RESUME_ADJUSTABLE_KEYS} are refused unless `allowConfigChange`.
   */
  private async applyRunConfig(outputDir: string, checkpoint: string | undefined): Promise<void> {
    const file = checkpoint && existsSync(join(checkpoint, RUN_CONFIG_FILE)) ? join(checkpoint, RUN_CONFIG_FILE) : join(outputDir, RUN_CONFIG_FILE);
    let stored: JsonObject;
    try {
      stored = JSON.parse(await readFile(file, 'utf8')) as JsonObject;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.logger.warning(`--resume: ${file} is missing (a run folder of an older version); resuming with this invocation's configuration`);
        return;
      }
      throw new TrainerError('TRAINER_CHECKPOINT_FAILED', `--resume: ${file} is not valid JSON (${(error as Error).message})`, { cause: error });
    }
    const explicit = this.source === undefined ? {} : typeof this.source === 'string' ? await readConfigFile(this.source) : (this.source as JsonObject);
    const before = trainerConfigSchema.parse(stored);
    const resumed = await resolveTrainerConfig({
      defaultConfigFile: null,
      config: mergeConfigLayers(stored, explicit),
      // The run continues in the folder it is found in, wherever it was first written.
      overrides: { ...(this.options.overrides ?? {}), 'output_settings.output_dir': outputDir },
    });
    const old = flattenConfig(before);
    const changes = [...flattenConfig(resumed)].filter(([key, value]) => key !== 'output_settings.output_dir' && old.get(key) !== value).map(([key, value]) => ({ key, from: old.get(key) ?? 'unset', to: value }));
    const adjustable = (key: string) => RESUME_ADJUSTABLE_KEYS.some((prefix) => (prefix.endsWith('.') ? key.startsWith(prefix) : key === prefix));
    const refused = changes.filter((change) => !adjustable(change.key));
    const describe = (list: typeof changes) => list.map((change) => `${change.key}: ${change.from} → ${change.to}`).join(', ');
    if (refused.length > 0 && this.options.allowConfigChange !== true) {
      throw new TrainerError(
        'TRAINER_RESUME_CONFIG_CHANGED',
        `--resume would change what this run trains (${describe(refused)}; the run's configuration is ${file}). ` +
          'Resume without these settings to continue the run as it was started, pass --allow-config-change to resume with them anyway, or start a new run in another --output-dir.',
      );
    }
    this.logger.info(`resuming with the run's configuration from ${file}${changes.length === 0 ? ' (no overrides)' : ''}`);
    for (const change of changes) {
      const line = `resume override: ${change.key}: ${change.from} → ${change.to}`;
      if (adjustable(change.key)) this.logger.info(line);
      else this.logger.warning(`${line} (changes what is trained; allowed by --allow-config-change)`);
    }
    this.resolved = resumed;
    if (this.ownLogger) this.logger.level = resumed.logging_settings.level;
  }

  /** Open the run folder (the lock is held), with a message that says how to continue on a conflict. */
  private async openRunFolder(outputDir: string, runId: string): Promise<ResultWriter> {
    const config = this.config;
    try {
      return await ResultWriter.open(outputDir, { runId, overwrite: config.output_settings.overwrite && !this.options.resume, ignoreEntries: [RUN_LOCK_FILE] });
    } catch (error) {
      if (DataError.isInstance(error) && error.code === 'DATA_RUN_DIRECTORY_CONFLICT' && !this.options.resume && existsSync(join(outputDir, RUN_MARKER_FILE))) {
        throw new DataError(
          'DATA_RUN_DIRECTORY_CONFLICT',
          `${error.message}\nTo continue that run: --resume --output-dir ${outputDir}. To start over in it: --output_settings.overwrite true (deletes its results). Or choose another --output-dir.`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  private async trainLocked(outputDir: string): Promise<FinalResults> {
    const { runId, checkpoint } = await this.resumePoint(outputDir);
    if (this.options.resume) await this.applyRunConfig(outputDir, checkpoint);
    const writer = await this.openRunFolder(outputDir, runId);
    if (this.logger.file === undefined) this.logger.attachFile(writer.path(this.config.logging_settings.log_file));
    this.logger.info(`run ${runId} in ${outputDir}${writer.resumed ? ' (existing run folder)' : ''}`);
    try {
      await writer.writeJson(RUN_CONFIG_FILE, trainerConfigSchema.parse(this.config));
      await this.initializeComponents();
    } catch (error) {
      await writer.close();
      throw error;
    }
    const components = this.requireComponents();
    const config = this.config;
    const t = config.training_settings;
    const checkpoints = new CheckpointManager(outputDir, { keep: t.keep_checkpoints, logger: this.logger });
    await checkpoints.cleanTemporary();
    for (const name of await readdir(outputDir)) {
      // Left by a run that died while saving its best model.
      if (/^best_model\.(tmp-.+|old)$/u.test(name)) await rm(join(outputDir, name), { recursive: true, force: true });
    }
    const stop = this.options.stopSignal ?? new StopSignal({ logger: this.logger });
    const installed = this.options.stopSignal === undefined;
    if (installed) stop.install();
    const failures = new FailureTracker({ maxFailureFraction: t.max_failure_fraction, maxFailedIterations: t.max_failed_iterations });
    let progress: Progress | undefined;
    const rollouts = await this.openRollouts(runId).catch(async (error: unknown) => {
      if (installed) stop.uninstall();
      await writer.close();
      throw error;
    });
    const rewards = new TrainingRewards({
      config,
      renderer: components.renderer,
      imageRewards: components.imageRewards,
      rollouts,
      onStage: (stage) => progress?.stage(stage === 'rewards' ? 'rendering + scoring' : 'updating'),
    });
    const tracker = new WandbTracker(this.logger);
    let trainer: GRPOTrainer | undefined;
    try {
      // Application state, fresh or from the checkpoint.
      let state: TrainerState = {
        format: 'vlm-grpo-trainer-state/1',
        iteration: 0,
        run_id: runId,
        dataset_epochs: Math.max(1, Math.ceil((t.num_iterations * t.batch_size * (1 + (t.dynamic_sampling.enabled ? t.dynamic_sampling.max_refill_rounds : 0))) / this.train!.size)),
        sampler: { epoch: 0, offset: 0, batchesDrawn: 0 },
        failures: failures.getState(),
        reward_normalizers: {},
        best: null,
        validations: [],
        metrics: [],
        training_seconds: 0,
      };
      let grpoState: { manifest: Record<string, unknown>; parts: Uint8Array[] } | undefined;
      if (checkpoint) {
        const readJson = async (name: string): Promise<unknown> => {
          const file = join(checkpoint, name);
          try {
            return JSON.parse(await readFile(file, 'utf8')) as unknown;
          } catch (error) {
            throw new TrainerError('TRAINER_CHECKPOINT_FAILED', `${file}: unreadable (${(error as Error).message}); resume from an earlier checkpoint with --resume=<folder>`, { cause: error });
          }
        };
        const parsed = trainerStateSchema.safeParse(await readJson(APP_STATE));
        if (!parsed.success) throw new TrainerError('TRAINER_CHECKPOINT_FAILED', `${join(checkpoint, APP_STATE)}: not a trainer state (${parsed.error.issues[0]?.message})`);
        state = parsed.data;
        // A resume that extends the run needs the data stream laid out further.
        state = { ...state, dataset_epochs: Math.max(state.dataset_epochs, Math.ceil((t.num_iterations * t.batch_size * (1 + (t.dynamic_sampling.enabled ? t.dynamic_sampling.max_refill_rounds : 0))) / this.train!.size)) };
        const manifest = (await readJson(GRPO_STATE_JSON)) as Record<string, unknown>;
        const partCount = Number.isInteger(manifest['parts']) ? (manifest['parts'] as number) : 1;
        const parts: Uint8Array[] = [];
        for (let p = 0; p < partCount; p += 1) parts.push(await readLargeFile(join(checkpoint, grpoStatePartFile(p))));
        grpoState = { manifest, parts };
        failures.setState(state.failures);
        rewards.setState(state.reward_normalizers);
        // Lines written after the checkpoint belong to iterations that will run again.
        await writer.close();
        await writer.writeFile(RUN_FILES.metrics, state.metrics.map((line) => `${JSON.stringify(line)}\n`).join(''));
        this.logger.info(`resuming from ${checkpoint} at iteration ${state.iteration}`);
      } else if (writer.resumed && this.options.resume) {
        await rm(writer.path(RUN_FILES.metrics), { force: true });
      }
      const resumedFrom = checkpoint ? state.iteration : null;
      const grpo = await import('@vlm-grpo/grpo');
      const chunk = config.rollout_settings.generation_chunk_groups;
      const timed = new TimedPolicy(
        chunk === 0
          ? components.policy
          : chunkedSampling(components.policy, {
              chunkGroups: chunk,
              nextRound: () => rewards.nextSampledRound(),
              onChunk: (part) => rewards.prefetch(trainer?.step ?? 0, part.round, part.firstGroup, part.prompts, part.completions, part.numGenerations),
            }),
      );
      trainer = await grpo.GRPOTrainer.create({
        policy: timed,
        rewardFuncs: rewards.functions,
        dataset: this.balancedDataset(state.dataset_epochs),
        config: this.grpoConfig(rewards),
      });
      if (grpoState) {
        try {
          await trainer.setState(grpo.decodeTrainerState(grpoState.manifest, grpoState.parts));
        } catch (error) {
          throw new TrainerError('TRAINER_CHECKPOINT_FAILED', `${join(checkpoint!, GRPO_STATE_JSON)} / ${GRPO_STATE_BIN}: the GRPO state does not fit this run (${(error as Error).message})`, { cause: error });
        }
      }

      if (config.tracking.wandb.enabled) {
        await tracker.start({
          project: config.tracking.wandb.project,
          entity: config.tracking.wandb.entity,
          runName: config.tracking.wandb.run_name,
          runId: runId.replace(/[^a-z0-9-]/giu, '').toLowerCase().slice(-64),
          baseUrl: config.tracking.wandb.base_url,
          config,
        });
      }

      progress = new Progress({ total: t.num_iterations, start: state.iteration, mode: config.logging_settings.progress_bar, logger: this.logger, ...(this.options.progressStream ? { stream: this.options.progressStream } : {}) });
      const sessionTimings: StageTimings[] = [];
      let validationSeconds = 0;
      let lastCheckpoint = checkpoint ? state.iteration : -1;
      let lastValidated = state.validations.at(-1)?.iteration ?? -1;
      let status: FinalResults['status'] = 'completed';
      let message = `completed ${t.num_iterations} iterations`;

      const saveCheckpoint = async (reason: CheckpointManifest['reason']) => {
        if (lastCheckpoint === state.iteration) return;
        const snapshot = await trainer!.getState();
        const encoded = grpo.encodeTrainerState(snapshot);
        const appState: TrainerState = { ...state, failures: failures.getState(), reward_normalizers: rewards.getState() };
        const path = await checkpoints.save(state.iteration, reason, async (folder) => {
          await components.policy.save(join(folder, POLICY_FOLDER));
          await writeFile(join(folder, GRPO_STATE_JSON), JSON.stringify(encoded.manifest));
          for (const [p, part] of encoded.parts.entries()) await writeFile(join(folder, grpoStatePartFile(p)), part);
          await writeFile(join(folder, APP_STATE), `${JSON.stringify(appState, null, 2)}\n`);
          await writeFile(join(folder, RUN_CONFIG_FILE), `${JSON.stringify(trainerConfigSchema.parse(config), null, 2)}\n`);
        });
        lastCheckpoint = state.iteration;
        this.logger.info(`checkpoint written: ${path} (${reason})`);
      };

      const validate = async (): Promise<Record<string, unknown>> => {
        const started = performance.now();
        // A diverged policy is never validated into the results, nor saved as the best model.
        const broken = await nonFiniteParameter(components.policy);
        if (broken !== undefined) {
          throw new TrainerError('TRAINER_RUN_FAILED', `validation ${state.iteration}: the policy's parameter ${broken} holds NaN or ±Infinity (training diverged); it is not saved as ${RUN_FILES.bestModel}`);
        }
        const { summary, tracking } = await this.runValidation(state.iteration, writer, tracker);
        validationSeconds += (performance.now() - started) / 1000;
        lastValidated = state.iteration;
        state = { ...state, validations: [...state.validations, summary] };
        const metricName = config.validation_settings.best_metric;
        const value = summary[metricName];
        if (value !== null && Number.isFinite(value) && (state.best === null || value > state.best.value)) {
          state = { ...state, best: { metric: metricName, value, iteration: state.iteration } };
          if (config.output_settings.save_best_model) {
            const target = writer.path(RUN_FILES.bestModel);
            const temporary = `${target}.tmp-${process.pid}`;
            const old = `${target}.old`;
            try {
              await rm(temporary, { recursive: true, force: true });
              await components.policy.save(temporary);
              await rm(old, { recursive: true, force: true });
              await rename(target, old).catch((error: NodeJS.ErrnoException) => {
                if (error.code !== 'ENOENT') throw error;
              });
              await rename(temporary, target);
            } catch (error) {
              // Keep (or bring back) the previous best model; never leave a temporary folder.
              if (!existsSync(target) && existsSync(old)) await rename(old, target).catch(() => undefined);
              throw new TrainerError('TRAINER_RUN_FAILED', `could not save the best model to ${target}: ${(error as Error).message}`, { cause: error });
            } finally {
              await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
            }
            await rm(old, { recursive: true, force: true });
            this.logger.info(`best model (${metricName} ${value.toFixed(4)} at iteration ${state.iteration}) saved to ${target}`);
          }
        }
        return tracking;
      };

      // The GRPO step count at the end of the last completed iteration: a checkpoint after an
      // error is consistent only when the GRPO state is still that iteration's.
      let stepOfLastIteration = trainer.step;
      let failedWith: unknown;
      try {
        // The baseline: the untrained policy is validated before the first update (iteration 0),
        // so the report's curves show what training gained. A resumed run already has it.
        if (state.iteration === 0 && lastValidated === -1 && !stop.requested) tracker.log(await validate(), 0);

        while (state.iteration < t.num_iterations && !stop.requested) {
          const started = performance.now();
          timed.reset();
          progress.stage('generating');
          let metrics: GRPOMetrics = {};
          const stepFailures: SampleFailure[] = [];
          const samples = t.batch_size * t.num_generations;
          rewards.beginIteration(state.iteration);
          try {
            metrics = await trainer.trainStep();
          } catch (error) {
            if (rollouts.failure) {
              // No rollouts at all (Redis gone): end the run; its checkpoints are untouched.
              status = 'failed';
              message = `iteration ${state.iteration + 1}: ${rollouts.failure.message}; the checkpoints are kept: continue with --resume once Redis is back`;
              this.logger.error(message);
              break;
            }
            // A WASM abort (most often out of memory) kills the tfjs module for the rest of the
            // process: end the run now, with the explanation, instead of failing every sample.
            const abort = await describeBackendAbort(error);
            if (abort !== undefined) throw new TrainerError('TRAINER_POLICY_BACKEND_ABORTED', `iteration ${state.iteration + 1}: ${abort}`, { cause: error });
            const stage = timed.failed ? 'generation' : (error as { code?: string }).code === 'GRPO_NON_FINITE' ? 'update' : 'rewards';
            stepFailures.push({ stage, sample: -1, message: (error as Error).message });
            this.logger.error(`iteration ${state.iteration + 1}: ${stage} failed for the whole batch: ${(error as Error).message}`);
          }
          const report = rewards.takeReport();
          if (report.rolloutSummary) this.logger.info(`iteration ${state.iteration + 1}: ${report.rolloutSummary}`);
          stepFailures.push(...report.failures);
          for (const failure of report.failures) this.logger.warning(`iteration ${state.iteration + 1}: sample ${failure.sample} excluded (${failure.stage}: ${failure.message})`);
          const total = (performance.now() - started) / 1000;
          const timings: StageTimings = {
            generation: timed.seconds,
            rendering: report.timings.rendering,
            scoring: report.timings.scoring,
            update: Math.max(0, total - timed.seconds - report.timings.wall),
            total,
          };
          sessionTimings.push(timings);
          const summary = failures.record(samples, stepFailures);
          const iteration = state.iteration + 1;
          const consumed = iteration * t.batch_size;
          const line = metricsLineSchema.parse({
            iteration,
            time: new Date().toISOString(),
            epoch: consumed / this.train!.size,
            // With every sample failed there is no reward to report: GRPO's 0 would read as a real value.
            metrics: Object.fromEntries(Object.entries({ ...metrics, ...report.rollout }).filter(([key, value]) => Number.isFinite(value) && !(summary.failed === samples && /^(reward|reward_std|rewards\/.+\/(mean|std))$/u.test(key)))),
            timings_s: timings,
            samples: { total: samples, failed: summary.failed },
            failures: stepFailures,
          });
          await writer.appendJsonl(RUN_FILES.metrics, line);
          state = { ...state, iteration, sampler: this.samplerState(consumed), metrics: [...state.metrics, line], training_seconds: state.training_seconds + total };
          stepOfLastIteration = trainer.step;
          const trackData: Record<string, unknown> = { ...line.metrics, ...Object.fromEntries(Object.entries(timings).map(([key, value]) => [`time/${key}`, value])), 'samples/failed': summary.failed };
          progress.tick(iteration, { reward: line.metrics['reward'], kl: line.metrics['kl'] });
          this.logger.debug(`iteration ${iteration}: ${JSON.stringify(line.metrics)}`);
          await this.options.onIteration?.(iteration, line);
          if (summary.stop) {
            status = 'failed';
            message = failures.stopMessage();
            this.logger.error(message);
            tracker.log(trackData, iteration);
            await saveCheckpoint('failures');
            break;
          }
          if (t.validation_every > 0 && iteration % t.validation_every === 0) Object.assign(trackData, await validate());
          // One W&B history row per iteration: training metrics and, when it ran, the validation.
          tracker.log(trackData, iteration);
          if (iteration % t.checkpoint_every === 0) await saveCheckpoint('scheduled');
        }
        progress.finish();
        if (status !== 'failed' && stop.requested && state.iteration < t.num_iterations) {
          status = 'stopped';
          message = `stopped by ${stop.reason} after iteration ${state.iteration}; continue with --resume`;
          this.logger.warning(message);
          await saveCheckpoint('signal');
        }
        if (status === 'completed') {
          if (lastValidated !== state.iteration) tracker.log(await validate(), state.iteration);
          await saveCheckpoint('final');
        }
      } catch (error) {
        // Any error (validation, saving the best model, a checkpoint, metrics, a full disk): keep
        // every completed iteration, write the results, say how to continue.
        failedWith = error;
        status = 'failed';
        progress.finish();
        const reason = TrainerError.isInstance(error) || DataError.isInstance(error) ? `${error.code}: ${error.message}` : (error as Error).message ?? String(error);
        this.logger.error(`the run failed after iteration ${state.iteration}: ${reason}`);
        let kept: string;
        let broken: string | undefined;
        if (lastCheckpoint === state.iteration) {
          kept = `the checkpoint of iteration ${state.iteration} is on disk`;
        } else if (trainer.step !== stepOfLastIteration) {
          kept = `the error came in the middle of iteration ${state.iteration + 1}, so the latest checkpoint (iteration ${Math.max(lastCheckpoint, 0)}) is kept`;
        } else if ((broken = await nonFiniteParameter(components.policy).catch(() => UNREADABLE)) !== undefined) {
          kept =
            broken === UNREADABLE
              ? `the policy cannot be read (its backend failed) and is not checkpointed; the latest checkpoint (iteration ${Math.max(lastCheckpoint, 0)}) is kept`
              : `the policy holds non-finite values and is not checkpointed; the latest checkpoint (iteration ${Math.max(lastCheckpoint, 0)}) is kept`;
        } else {
          try {
            await saveCheckpoint('error');
            kept = `a checkpoint of iteration ${state.iteration} was written`;
          } catch (saveError) {
            kept = `the checkpoint of iteration ${state.iteration} could not be written either (${(saveError as Error).message})`;
          }
        }
        message = `failed after iteration ${state.iteration}: ${reason}; ${kept}; continue with --resume once the cause is fixed`;
        this.logger.error(message);
      }
      const results = await this.writeFinalResults(writer, {
        runId, status, message, resumedFrom, state, sessionTimings, validationSeconds, failures, checkpoints,
        finalMetrics: state.metrics.at(-1)?.metrics ?? {},
      });
      await tracker.finish(status === 'failed' ? 1 : 0);
      if (failedWith !== undefined) throw new TrainerError('TRAINER_RUN_FAILED', message, { cause: failedWith });
      if (status === 'failed') throw rollouts.failure ?? new TrainerError('TRAINER_TOO_MANY_FAILURES', message);
      return results;
    } finally {
      progress?.finish();
      if (installed) stop.uninstall();
      trainer?.dispose();
      await this.closeRollouts(rollouts);
      await tracker.finish().catch(() => undefined);
      await writer.close();
    }
  }

  private async writeFinalResults(
    writer: ResultWriter,
    input: {
      runId: string;
      status: FinalResults['status'];
      message: string;
      resumedFrom: number | null;
      state: TrainerState;
      sessionTimings: StageTimings[];
      validationSeconds: number;
      failures: FailureTracker;
      checkpoints: CheckpointManager;
      finalMetrics: Record<string, number>;
    },
  ): Promise<FinalResults> {
    const config = this.config;
    const { state, sessionTimings } = input;
    const rel = (path: string) => relative(writer.directory, path);
    const bestExists = await readFile(join(writer.path(RUN_FILES.bestModel), 'config.json')).then(() => true, () => false);
    const reportExists = await readFile(writer.path(RUN_FILES.report)).then(() => true, () => false);
    const failureState = input.failures.getState();
    const results: FinalResults = {
      format: 'vlm-grpo-final-results/1',
      run_id: input.runId,
      status: input.status,
      message: input.message,
      created_at: new Date().toISOString(),
      config: trainerConfigSchema.parse(config) as unknown as Record<string, unknown>,
      iterations: { completed: state.iteration, planned: config.training_settings.num_iterations, resumed_from: input.resumedFrom },
      devices: this.components!.devices,
      timings_s: {
        initialization: this.initSeconds,
        training: state.training_seconds,
        validation: input.validationSeconds,
        per_iteration:
          sessionTimings.length === 0
            ? null
            : {
                generation: mean(sessionTimings.map((entry) => entry.generation)),
                rendering: mean(sessionTimings.map((entry) => entry.rendering)),
                scoring: mean(sessionTimings.map((entry) => entry.scoring)),
                update: mean(sessionTimings.map((entry) => entry.update)),
                total: mean(sessionTimings.map((entry) => entry.total)),
              },
      },
      best: state.best,
      final_metrics: input.finalMetrics,
      validations: state.validations,
      failures: { failed_samples: failureState.totalFailed, total_samples: failureState.totalSamples },
      files: {
        run_folder: writer.directory,
        log: config.logging_settings.log_file,
        metrics: RUN_FILES.metrics,
        best_model: bestExists ? RUN_FILES.bestModel : null,
        checkpoints: (await input.checkpoints.list()).map((entry) => rel(entry.path)),
        validations: state.validations.map((summary) => summary.file).filter((file): file is string => file !== null),
        report: reportExists ? RUN_FILES.report : null,
      },
    };
    const checked = finalResultsSchema.parse(results);
    await writer.writeJson(RUN_FILES.finalResults, checked);
    this.logger.info(`${input.status}: ${input.message}. Results: ${writer.path(RUN_FILES.finalResults)}`);
    return checked;
  }
}

/**
 * Name of the first policy parameter that holds NaN or ±Infinity (undefined when all are finite),
 * read through the engine's optimizer state (weights only).
 */
/** What {@link nonFiniteParameter} stands for when the policy cannot be read at all. */
const UNREADABLE = '(unreadable)';

/** @vlm-grpo/vlm's explanation of a dead WASM backend, or undefined (loaded only on this error path). */
async function describeBackendAbort(error: unknown): Promise<string | undefined> {
  try {
    const vlm = (await import('@vlm-grpo/vlm')) as { describeBackendAbort?: (error: unknown) => string | undefined };
    return vlm.describeBackendAbort?.(error);
  } catch {
    return undefined;
  }
}

async function nonFiniteParameter(policy: TrainablePolicy): Promise<string | undefined> {
  const state = await policy.getOptimizerState();
  for (const [name, parameter] of Object.entries(state.parameters)) {
    const weights = parameter.weights;
    for (let index = 0; index < weights.length; index++) if (!Number.isFinite(weights[index]!)) return name;
  }
  return undefined;
}

/** Delegates to the policy and measures the time spent sampling (the generation stage). */
class TimedPolicy implements TrainablePolicy {
  seconds = 0;
  failed = false;
  constructor(private readonly inner: TrainablePolicy) {}
  reset(): void {
    this.seconds = 0;
    this.failed = false;
  }
  async sample(...args: Parameters<TrainablePolicy['sample']>): ReturnType<TrainablePolicy['sample']> {
    const started = performance.now();
    try {
      return await this.inner.sample(...args);
    } catch (error) {
      this.failed = true;
      throw error;
    } finally {
      this.seconds += (performance.now() - started) / 1000;
    }
  }
  logProbs(...args: Parameters<TrainablePolicy['logProbs']>): ReturnType<TrainablePolicy['logProbs']> {
    return this.inner.logProbs(...args);
  }
  forwardTrain(...args: Parameters<TrainablePolicy['forwardTrain']>): ReturnType<TrainablePolicy['forwardTrain']> {
    return this.inner.forwardTrain(...args);
  }
  backward(...args: Parameters<TrainablePolicy['backward']>): ReturnType<TrainablePolicy['backward']> {
    return this.inner.backward(...args);
  }
  optimizerStep(...args: Parameters<TrainablePolicy['optimizerStep']>): ReturnType<TrainablePolicy['optimizerStep']> {
    return this.inner.optimizerStep(...args);
  }
  zeroGrad(): ReturnType<TrainablePolicy['zeroGrad']> {
    return this.inner.zeroGrad();
  }
  clone(): ReturnType<TrainablePolicy['clone']> {
    return this.inner.clone();
  }
  syncFrom(...args: Parameters<TrainablePolicy['syncFrom']>): ReturnType<TrainablePolicy['syncFrom']> {
    return this.inner.syncFrom(...args);
  }
  getOptimizerState(): ReturnType<TrainablePolicy['getOptimizerState']> {
    return this.inner.getOptimizerState();
  }
  setOptimizerState(...args: Parameters<TrainablePolicy['setOptimizerState']>): ReturnType<TrainablePolicy['setOptimizerState']> {
    return this.inner.setOptimizerState(...args);
  }
  dispose(): void {
    this.inner.dispose();
  }
  enhancePrompts(...args: Parameters<TrainablePolicy['enhancePrompts']>): ReturnType<TrainablePolicy['enhancePrompts']> {
    return this.inner.enhancePrompts(...args);
  }
  save(directory: string): Promise<void> {
    return this.inner.save(directory);
  }
}


