/**
 * `Validator`: evaluates a prompt enhancer on held-out prompts, original vs enhanced.
 *
 * For each validation record (user_prompt, category, difficulty):
 * 1. the enhancer rewrites the prompt (batched, `batchSize` prompts per call, seed
 *    `deriveSeed(seed, iteration)` for any sampling);
 * 2. the renderer draws the original and the enhanced prompt with the SAME seeds,
 *    `imageSeeds(seed, user_prompt, imagesPerPrompt)` = `deriveSeed(seed, fnv1a32(normalized prompt), k)`
 *    for k = 0…imagesPerPrompt−1, so both images start from identical initial noise and the
 *    difference of their rewards is due to the prompt. Seeds depend on the prompt text, not on
 *    its position, so they are the same at every iteration and for any subset of prompts;
 * 3. the scorer rewards every image against the original prompt (and, as context, the prompt that
 *    produced it); a prompt's reward is the mean over its images (as Promptist averages images);
 * 4. metrics (see `metrics.ts`), then outputs through `ResultWriter` (atomic writes):
 *    `contact_sheet_iter_N.png`, optional per-prompt PNGs in `validation_iter_N/`,
 *    `validation_iter_N.json`, and `report.html` over every validation in the folder.
 *
 * Failures of one prompt (an enhancer, renderer or scorer error for that item, a malformed image, a
 * non-finite reward) are recorded in the result with their stage and excluded from the metrics;
 * a call that throws fails every prompt of that call. Contract violations (wrong item count) and
 * a failed JSON write are thrown. With `cacheOriginals` (default) the original prompts' images and
 * rewards are computed once per (prompt, seeds) and reused at later iterations: this assumes the
 * renderer and scorer are deterministic for a fixed prompt and seed (true for the ONNX pipelines
 * on CPU); set it to false otherwise.
 */
import {
  deriveSeed,
  formatSchemaIssues,
  normalizePromptText,
  promptRecordSchema,
  type PromptRecord,
  type ResultWriter,
} from '@vlm-grpo/data';

import { checkImage, encodePng, renderContactSheet, type ContactSheetEntry, type ContactSheetOptions } from './contact-sheet.js';
import { describeError, EvalError, TooManyFailuresError } from './errors.js';
import { loadValidationHistory, readMetricsFile } from './history.js';
import type { EnhancedPrompt, FallbackInfo, ImageRenderer, ImageScore, ImageScorer, PromptEnhancer, RenderedImage } from './interfaces.js';
import { compareRewards, computeMetrics, countWords } from './metrics.js';
import { renderReport, type ReportOptions, type TrainingMetricsRecord } from './report.js';
import { formatNumber, formatSigned } from './text.js';
import {
  FAILURE_STAGES,
  VALIDATION_RESULT_FORMAT,
  VALIDATION_RESULT_VERSION,
  parseValidationResult,
  validationResultFileName,
  type EvaluatedItem,
  type FailedItem,
  type FailureStage,
  type PromptReward,
  type ValidationItem,
  type ValidationResult,
  type ValidationSettings,
} from './validation-result.js';

/** Receives warnings (a failed prompt, a dropped component, an output that could not be written). */
export interface ValidatorLogger {
  warn(message: string): void;
  info?(message: string): void;
}

/** Contact sheet options of the validator. */
export interface ValidatorContactSheetOptions extends ContactSheetOptions {
  /** Most rows (prompts, in validation order) on the sheet (default: 16). */
  maxRows?: number;
}

/** Report options of the validator. */
export interface ValidatorReportOptions extends Omit<ReportOptions, 'trainingMetrics'> {
  /** Training metrics file in the run folder, charted when present (default: `metrics.jsonl`). */
  metricsFile?: string;
  /** Report file name in the run folder (default: `report.html`). */
  fileName?: string;
}

/** Options of {@link Validator}. */
export interface ValidatorOptions {
  /** Rewrites prompts (e.g. the policy, adapted). */
  enhancer: PromptEnhancer;
  /** Draws images (e.g. the diffusion pipeline, adapted). */
  renderer: ImageRenderer;
  /** Rewards images (e.g. the CLIP reward, adapted). */
  scorer: ImageScorer;
  /** Validator seed, an integer in [0, 2^32 − 1], the image seeds derive from (default: 0). */
  seed?: number;
  /** Enhanced reward above which a prompt counts as a success (default: 0). */
  successThreshold?: number;
  /** Improvement above which a rewrite counts as an improvement (default: 0). */
  improvementMargin?: number;
  /** |enhanced − original| at or below which a comparison is a tie (default: 0). */
  tieTolerance?: number;
  /** Images per prompt and side, rewards averaged (default: 1). */
  imagesPerPrompt?: number;
  /** Prompts per enhancer, renderer and scorer call (default: 8). */
  batchSize?: number;
  /** Fraction of failed prompts above which `validate` throws after writing its outputs (default: 1, never). */
  maxFailureFraction?: number;
  /** Extra options passed to `enhancePrompts` (default: none), e.g. `{ temperature: 0 }`. */
  enhanceOptions?: Record<string, unknown>;
  /** Reuse the original prompts' images and rewards across iterations (default: true). */
  cacheOriginals?: boolean;
  /** Write `contact_sheet_iter_N.png` (default: true). */
  contactSheet?: boolean | ValidatorContactSheetOptions;
  /** Write each prompt's first original and enhanced image to `validation_iter_N/` (default: false). */
  saveImages?: boolean;
  /** Write `report.html` after each validation (default: true). */
  report?: boolean | ValidatorReportOptions;
  /** Where warnings go (default: none). */
  logger?: ValidatorLogger;
  /** Clock for `created_at` (default: `() => new Date()`). */
  now?: () => Date;
}

/** Options of {@link Validator.validate}. */
export interface ValidateOptions {
  /** Training iteration (names the files). */
  iteration: number;
  /** Run folder writer; without it nothing is written. */
  writer?: ResultWriter;
  /** Results for the report (default: every `validation_iter_N.json` in the writer's folder, this one included). */
  history?: readonly ValidationResult[];
  /** Training metrics for the report (default: read from the writer's `metrics.jsonl`). */
  trainingMetrics?: readonly TrainingMetricsRecord[];
  /** Stops between calls with `EVAL_ABORTED`. */
  signal?: AbortSignal;
}

/** Images of one validation prompt, for loggers (e.g. W&B tables). */
export interface ValidationPair {
  /** The item as recorded in the result. */
  item: ValidationItem;
  /** The original prompt's images (empty when they failed). */
  originalImages: RenderedImage[];
  /** The enhanced prompt's images (empty when they failed). */
  enhancedImages: RenderedImage[];
}

/** What {@link Validator.validate} returns. */
export interface ValidationRun {
  /** The result, as written to `validation_iter_N.json`. */
  result: ValidationResult;
  /** Per-prompt images, in record order. */
  pairs: ValidationPair[];
  /** Absolute paths of the files written (`null`/empty without a writer or when skipped). */
  files: { result: string | null; contactSheet: string | null; report: string | null; images: string[] };
  /** Output steps that failed without failing the validation (contact sheet, images, report). */
  outputWarnings: string[];
}

/** FNV-1a 32-bit hash of the UTF-8 bytes of `text`. */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return hash >>> 0;
}

/**
 * Seeds of the images of one validation prompt: `deriveSeed(seed, fnv1a32(normalizePromptText(prompt)), k)`
 * for k = 0…count−1. Original and enhanced images of the prompt use these same seeds.
 */
export function imageSeeds(seed: number, prompt: string, count: number): number[] {
  const key = fnv1a32(normalizePromptText(prompt));
  return Array.from({ length: count }, (_, k) => deriveSeed(seed, key, k));
}

interface SideState {
  images: RenderedImage[];
  scores: ImageScore[];
}

interface WorkItem {
  index: number;
  record: PromptRecord;
  seeds: number[];
  enhanced?: { text: string; fallback: FallbackInfo };
  original?: SideState;
  enhancedSide?: SideState;
  failure?: { stage: FailureStage; side?: 'original' | 'enhanced'; error: string };
}

function isItemError(value: unknown): value is { error: Error | string } {
  return typeof value === 'object' && value !== null && 'error' in value && !(value instanceof Uint8Array);
}

function checkNumber(name: string, value: number, min: number, integer = false, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isSafeInteger(value))) {
    throw new EvalError('EVAL_INVALID_ARGUMENT', `Validator option ${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], received ${String(value)}`);
  }
  return value;
}

function meanReward(scores: readonly ImageScore[]): PromptReward {
  const totals = scores.map((score) => score.total);
  const sums = new Map<string, { sum: number; count: number }>();
  for (const score of scores) {
    for (const [name, value] of Object.entries(score.components)) {
      const entry = sums.get(name) ?? { sum: 0, count: 0 };
      entry.sum += value;
      entry.count++;
      sums.set(name, entry);
    }
  }
  const components: Record<string, number> = {};
  for (const name of [...sums.keys()].sort()) components[name] = sums.get(name)!.sum / sums.get(name)!.count;
  return { total: totals.reduce((sum, value) => sum + value, 0) / totals.length, components, per_image: totals };
}

/** Evaluates a prompt enhancer against the original prompts; see the file header. */
export class Validator {
  private readonly options: Required<Pick<ValidatorOptions, 'seed' | 'successThreshold' | 'improvementMargin' | 'tieTolerance' | 'imagesPerPrompt' | 'batchSize' | 'maxFailureFraction' | 'cacheOriginals' | 'saveImages'>>;
  private readonly enhancer: PromptEnhancer;
  private readonly renderer: ImageRenderer;
  private readonly scorer: ImageScorer;
  private readonly contactSheet: ValidatorContactSheetOptions | null;
  private readonly report: ValidatorReportOptions | null;
  private readonly enhanceOptions: Record<string, unknown>;
  private readonly logger: ValidatorLogger | undefined;
  private readonly now: () => Date;
  private readonly originalCache = new Map<string, SideState>();

  constructor(options: ValidatorOptions) {
    for (const [name, method] of [['enhancer', 'enhancePrompts'], ['renderer', 'render'], ['scorer', 'score']] as const) {
      const implementation = options?.[name] as unknown as Record<string, unknown> | undefined;
      if (typeof implementation?.[method] !== 'function') {
        throw new EvalError('EVAL_INVALID_ARGUMENT', `Validator option ${name} must implement ${method}()`);
      }
    }
    this.enhancer = options.enhancer;
    this.renderer = options.renderer;
    this.scorer = options.scorer;
    this.options = {
      seed: checkNumber('seed', options.seed ?? 0, 0, true, 0xffffffff),
      successThreshold: checkNumber('successThreshold', options.successThreshold ?? 0, -Infinity),
      improvementMargin: checkNumber('improvementMargin', options.improvementMargin ?? 0, 0),
      tieTolerance: checkNumber('tieTolerance', options.tieTolerance ?? 0, 0),
      imagesPerPrompt: checkNumber('imagesPerPrompt', options.imagesPerPrompt ?? 1, 1, true, 64),
      batchSize: checkNumber('batchSize', options.batchSize ?? 8, 1, true),
      maxFailureFraction: checkNumber('maxFailureFraction', options.maxFailureFraction ?? 1, 0, false, 1),
      cacheOriginals: options.cacheOriginals ?? true,
      saveImages: options.saveImages ?? false,
    };
    const sheet = options.contactSheet ?? true;
    this.contactSheet = sheet === false ? null : sheet === true ? {} : sheet;
    if (this.contactSheet?.maxRows !== undefined) checkNumber('contactSheet.maxRows', this.contactSheet.maxRows, 1, true);
    const report = options.report ?? true;
    this.report = report === false ? null : report === true ? {} : report;
    this.enhanceOptions = options.enhanceOptions ?? {};
    this.logger = options.logger;
    this.now = options.now ?? (() => new Date());
  }

  /** Settings recorded in every result. */
  get settings(): ValidationSettings {
    return {
      success_threshold: this.options.successThreshold,
      improvement_margin: this.options.improvementMargin,
      tie_tolerance: this.options.tieTolerance,
      images_per_prompt: this.options.imagesPerPrompt,
    };
  }

  /** The validator seed. */
  get seed(): number {
    return this.options.seed;
  }

  /** Forget the cached original images and rewards (e.g. after changing the renderer's settings). */
  clearCache(): void {
    this.originalCache.clear();
  }

  /**
   * Validate `records` at `iteration`: rewrite, render both prompts from the same seeds, score,
   * compute metrics and, with a writer, write the outputs.
   * @throws EvalError `EVAL_NO_RECORDS`, `EVAL_INVALID_ARGUMENT` (a bad record: index and key),
   *   `EVAL_CONTRACT_VIOLATION`, `EVAL_OUTPUT_FAILED` (the JSON could not be written),
   *   `EVAL_ABORTED`, `EVAL_TOO_MANY_FAILURES` (after writing).
   */
  async validate(records: readonly unknown[], options: ValidateOptions): Promise<ValidationRun> {
    const started = performance.now();
    const fileName = validationResultFileName(options?.iteration);
    if (!Array.isArray(records) || records.length === 0) throw new EvalError('EVAL_NO_RECORDS', 'Validator.validate: no validation records given');
    const items: WorkItem[] = records.map((raw, index) => {
      const parsed = promptRecordSchema.safeParse(raw);
      if (!parsed.success) {
        throw new EvalError('EVAL_INVALID_ARGUMENT', `Validator.validate: record ${index} is not a prompt record: ${formatSchemaIssues(raw, parsed.error.issues)}`);
      }
      return { index, record: parsed.data, seeds: imageSeeds(this.seed, parsed.data.user_prompt, this.options.imagesPerPrompt) };
    });
    const timings = { enhance: 0, render: 0, score: 0, outputs: 0, total: 0 };
    const enhanceSeed = deriveSeed(this.seed, options.iteration);

    for (let start = 0; start < items.length; start += this.options.batchSize) {
      const batch = items.slice(start, start + this.options.batchSize);
      this.checkAborted(options.signal);
      let mark = performance.now();
      await this.enhanceBatch(batch, enhanceSeed, options.signal);
      timings.enhance += performance.now() - mark;
      this.checkAborted(options.signal);
      mark = performance.now();
      const fresh = await this.renderBatch(batch, options.signal);
      timings.render += performance.now() - mark;
      this.checkAborted(options.signal);
      mark = performance.now();
      await this.scoreBatch(batch, fresh, options.signal);
      timings.score += performance.now() - mark;
    }

    const resultItems = items.map((item) => this.toResultItem(item));
    for (const item of resultItems) {
      if (item.status === 'failed') this.logger?.warn(`validation prompt ${item.index} ("${item.user_prompt.slice(0, 80)}") failed at ${item.stage}${item.side ? ` (${item.side})` : ''}: ${item.error}`);
    }
    const failedByStage = Object.fromEntries(FAILURE_STAGES.map((stage) => [stage, resultItems.filter((item) => item.status === 'failed' && item.stage === stage).length])) as Record<FailureStage, number>;
    const failedCount = resultItems.filter((item) => item.status === 'failed').length;
    const result: ValidationResult = {
      format: VALIDATION_RESULT_FORMAT,
      version: VALIDATION_RESULT_VERSION,
      iteration: options.iteration,
      created_at: this.now().toISOString(),
      seed: this.seed,
      settings: this.settings,
      counts: { prompts: items.length, evaluated: items.length - failedCount, failed: failedCount, failed_by_stage: failedByStage },
      metrics: computeMetrics(resultItems, this.settings),
      items: resultItems,
      files: { result: null, contact_sheet: null, images: [] },
      timings_s: timings,
    };
    const pairs: ValidationPair[] = items.map((item, index) => ({
      item: resultItems[index]!,
      originalImages: item.original?.images ?? [],
      enhancedImages: item.enhancedSide?.images ?? [],
    }));
    const files: ValidationRun['files'] = { result: null, contactSheet: null, report: null, images: [] };
    const outputWarnings: string[] = [];
    const outputsStarted = performance.now();
    if (options.writer) await this.writeOutputs(options, fileName, result, pairs, files, outputWarnings, started, outputsStarted);
    else {
      timings.total = (performance.now() - started) / 1000;
      for (const key of ['enhance', 'render', 'score'] as const) timings[key] /= 1000;
    }
    parseValidationResult(result, fileName);
    if (failedCount > 0 && failedCount / items.length > this.options.maxFailureFraction) {
      throw new TooManyFailuresError(failedCount, items.length, this.options.maxFailureFraction, result);
    }
    return { result, pairs, files, outputWarnings };
  }

  private checkAborted(signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw new EvalError('EVAL_ABORTED', `validation aborted${signal.reason !== undefined ? `: ${describeError(signal.reason)}` : ''}`, { cause: signal.reason });
  }

  private async enhanceBatch(batch: WorkItem[], seed: number, signal: AbortSignal | undefined): Promise<void> {
    let outputs: Array<EnhancedPrompt | string | Error>;
    try {
      outputs = await this.enhancer.enhancePrompts(
        batch.map((item) => item.record.user_prompt),
        { ...this.enhanceOptions, seed, ...(signal ? { signal } : {}) },
      );
    } catch (error) {
      if (signal?.aborted) this.checkAborted(signal);
      for (const item of batch) item.failure = { stage: 'enhance', error: describeError(error) };
      return;
    }
    if (!Array.isArray(outputs) || outputs.length !== batch.length) {
      throw new EvalError('EVAL_CONTRACT_VIOLATION', `enhancer.enhancePrompts returned ${Array.isArray(outputs) ? outputs.length : typeof outputs} item(s) for ${batch.length} prompt(s)`);
    }
    batch.forEach((item, position) => {
      const output: unknown = outputs[position];
      if (output instanceof Error || isItemError(output)) {
        item.failure = { stage: 'enhance', error: describeError(output instanceof Error ? output : output.error) };
        return;
      }
      const text = typeof output === 'string' ? output : typeof output === 'object' && output !== null && typeof (output as EnhancedPrompt).text === 'string' ? (output as EnhancedPrompt).text : undefined;
      if (text === undefined) {
        item.failure = { stage: 'enhance', error: `enhancer returned ${output === null ? 'null' : typeof output} instead of a string or { text }` };
        return;
      }
      if (text.trim() === '') {
        item.failure = { stage: 'enhance', error: 'enhancer returned an empty rewrite' };
        return;
      }
      const raw = typeof output === 'object' ? (output as EnhancedPrompt).fallback : undefined;
      const fallback: FallbackInfo = { used: raw?.used === true };
      if (fallback.used && typeof raw?.reason === 'string') fallback.reason = raw.reason;
      item.enhanced = { text, fallback };
    });
  }

  private cacheKey(item: WorkItem): string {
    return `${item.record.user_prompt}\u0000${item.seeds.join(',')}`;
  }

  /** Renders what is needed; returns the items whose originals were freshly rendered. */
  private async renderBatch(batch: WorkItem[], signal: AbortSignal | undefined): Promise<Set<WorkItem>> {
    const freshOriginals = new Set<WorkItem>();
    const jobs: Array<{ item: WorkItem; side: 'original' | 'enhanced'; prompt: string; seed: number }> = [];
    for (const item of batch) {
      if (item.failure || !item.enhanced) continue;
      const cached = this.options.cacheOriginals ? this.originalCache.get(this.cacheKey(item)) : undefined;
      if (cached) item.original = { images: [...cached.images], scores: [...cached.scores] };
      else freshOriginals.add(item);
      for (const seed of item.seeds) {
        if (!cached) jobs.push({ item, side: 'original', prompt: item.record.user_prompt, seed });
        jobs.push({ item, side: 'enhanced', prompt: item.enhanced.text, seed });
      }
    }
    if (jobs.length === 0) return freshOriginals;
    let outputs: unknown[];
    try {
      outputs = await this.renderer.render(
        jobs.map((job) => job.prompt),
        { seeds: jobs.map((job) => job.seed), ...(signal ? { signal } : {}) },
      );
    } catch (error) {
      if (signal?.aborted) this.checkAborted(signal);
      for (const job of jobs) job.item.failure ??= { stage: 'render', error: describeError(error) };
      return freshOriginals;
    }
    if (!Array.isArray(outputs) || outputs.length !== jobs.length) {
      throw new EvalError('EVAL_CONTRACT_VIOLATION', `renderer.render returned ${Array.isArray(outputs) ? outputs.length : typeof outputs} item(s) for ${jobs.length} prompt(s)`);
    }
    jobs.forEach((job, position) => {
      if (job.item.failure) return;
      const output = outputs[position];
      const fail = (error: string) => {
        job.item.failure = { stage: 'render', side: job.side, error };
      };
      if (output instanceof Error) return fail(describeError(output));
      if (isItemError(output)) return fail(describeError(output.error));
      try {
        checkImage(output as RenderedImage, `rendered ${job.side} image`);
      } catch (error) {
        return fail(describeError(error));
      }
      const key = job.side === 'original' ? 'original' : 'enhancedSide';
      const state = (job.item[key] ??= { images: [], scores: [] });
      state.images.push(output as RenderedImage);
    });
    return freshOriginals;
  }

  private async scoreBatch(batch: WorkItem[], freshOriginals: Set<WorkItem>, signal: AbortSignal | undefined): Promise<void> {
    const jobs: Array<{ item: WorkItem; side: 'original' | 'enhanced'; image: RenderedImage; prompt: string }> = [];
    for (const item of batch) {
      if (item.failure || !item.enhanced || !item.enhancedSide || !item.original) continue;
      if (freshOriginals.has(item)) for (const image of item.original.images) jobs.push({ item, side: 'original', image, prompt: item.record.user_prompt });
      for (const image of item.enhancedSide.images) jobs.push({ item, side: 'enhanced', image, prompt: item.enhanced.text });
    }
    if (jobs.length === 0) return;
    let outputs: unknown[];
    try {
      outputs = await this.scorer.score(
        jobs.map((job) => job.image),
        { originalPrompts: jobs.map((job) => job.item.record.user_prompt), enhancedPrompts: jobs.map((job) => job.prompt), ...(signal ? { signal } : {}) },
      );
    } catch (error) {
      if (signal?.aborted) this.checkAborted(signal);
      for (const job of jobs) job.item.failure ??= { stage: 'score', error: describeError(error) };
      return;
    }
    if (!Array.isArray(outputs) || outputs.length !== jobs.length) {
      throw new EvalError('EVAL_CONTRACT_VIOLATION', `scorer.score returned ${Array.isArray(outputs) ? outputs.length : typeof outputs} item(s) for ${jobs.length} image(s)`);
    }
    jobs.forEach((job, position) => {
      if (job.item.failure) return;
      const output = outputs[position];
      const fail = (error: string) => {
        job.item.failure = { stage: 'score', side: job.side, error };
      };
      if (output instanceof Error) return fail(describeError(output));
      if (isItemError(output)) return fail(describeError(output.error));
      const score = output as ImageScore | null;
      if (typeof score !== 'object' || score === null || typeof score.total !== 'number') return fail(`scorer returned ${score === null ? 'null' : typeof score} instead of { total, components }`);
      if (!Number.isFinite(score.total)) return fail(`non-finite reward ${score.total}`);
      const components: Record<string, number> = {};
      for (const [name, value] of Object.entries(score.components ?? {})) {
        if (typeof value === 'number' && Number.isFinite(value)) components[name] = value;
        else this.logger?.warn(`validation prompt ${job.item.index}: dropped non-finite ${job.side} reward component "${name}" (${String(value)})`);
      }
      (job.side === 'original' ? job.item.original! : job.item.enhancedSide!).scores.push({ total: score.total, components });
    });
    if (this.options.cacheOriginals) {
      for (const item of freshOriginals) {
        if (!item.failure && item.original && item.original.scores.length === item.seeds.length) {
          this.originalCache.set(this.cacheKey(item), { images: [...item.original.images], scores: [...item.original.scores] });
        }
      }
    }
  }

  private toResultItem(item: WorkItem): ValidationItem {
    const base = {
      index: item.index,
      ...(item.record.id !== undefined ? { id: item.record.id } : {}),
      user_prompt: item.record.user_prompt,
      category: item.record.category,
      difficulty: item.record.difficulty,
      seeds: item.seeds,
    };
    const complete = (side: SideState | undefined) => side !== undefined && side.scores.length === item.seeds.length && side.images.length === item.seeds.length;
    if (!item.failure && item.enhanced && complete(item.original) && complete(item.enhancedSide)) {
      const original = meanReward(item.original!.scores);
      const enhanced = meanReward(item.enhancedSide!.scores);
      const evaluated: EvaluatedItem = {
        ...base,
        status: 'ok',
        enhanced_prompt: item.enhanced.text,
        fallback: item.enhanced.fallback,
        original,
        enhanced,
        improvement: enhanced.total - original.total,
        outcome: compareRewards(original.total, enhanced.total, this.options.tieTolerance),
        words: { original: countWords(item.record.user_prompt), enhanced: countWords(item.enhanced.text) },
      };
      return evaluated;
    }
    const failure = item.failure ?? { stage: 'score' as const, error: 'incomplete results (an image or a reward is missing)' };
    const failed: FailedItem = {
      ...base,
      status: 'failed',
      stage: failure.stage,
      ...(failure.side ? { side: failure.side } : {}),
      error: failure.error,
      enhanced_prompt: item.enhanced?.text ?? null,
      fallback: item.enhanced?.fallback ?? null,
    };
    return failed;
  }

  private async writeOutputs(
    options: ValidateOptions,
    fileName: string,
    result: ValidationResult,
    pairs: ValidationPair[],
    files: ValidationRun['files'],
    warnings: string[],
    started: number,
    outputsStarted: number,
  ): Promise<void> {
    const writer = options.writer!;
    const warn = (message: string) => {
      warnings.push(message);
      this.logger?.warn(message);
    };
    const iteration = options.iteration;
    if (this.contactSheet) {
      const name = `contact_sheet_iter_${iteration}.png`;
      try {
        const rows = pairs.slice(0, this.contactSheet.maxRows ?? 16);
        const png = await renderContactSheet(rows.map((pair) => contactSheetEntry(pair)), this.contactSheet);
        files.contactSheet = await writer.writeFile(name, png);
        result.files.contact_sheet = name;
      } catch (error) {
        warn(`contact sheet ${name} not written: ${describeError(error)}`);
      }
    }
    if (this.options.saveImages) {
      const folder = `validation_iter_${iteration}`;
      try {
        for (const pair of pairs) {
          if (pair.item.status !== 'ok') continue;
          const stem = `${folder}/${String(pair.item.index).padStart(3, '0')}`;
          const original = `${stem}_original.png`;
          const enhanced = `${stem}_enhanced.png`;
          files.images.push(await writer.writeFile(original, await encodePng(pair.originalImages[0]!)));
          files.images.push(await writer.writeFile(enhanced, await encodePng(pair.enhancedImages[0]!)));
          result.files.images.push({ index: pair.item.index, original, enhanced });
        }
      } catch (error) {
        warn(`images in ${folder}/ not all written: ${describeError(error)}`);
      }
    }
    result.files.result = fileName;
    const timings = result.timings_s;
    for (const key of ['enhance', 'render', 'score'] as const) timings[key] /= 1000;
    timings.outputs = (performance.now() - outputsStarted) / 1000;
    timings.total = (performance.now() - started) / 1000;
    try {
      parseValidationResult(result, fileName);
      files.result = await writer.writeJson(fileName, result);
    } catch (error) {
      if (EvalError.isInstance(error)) throw error;
      throw new EvalError('EVAL_OUTPUT_FAILED', `could not write ${fileName}: ${describeError(error)}`, { cause: error });
    }
    if (this.report) {
      const reportName = this.report.fileName ?? 'report.html';
      try {
        const history = options.history
          ? [...options.history.filter((entry) => entry.iteration !== result.iteration), result]
          : await loadValidationHistory(writer.directory, { skipInvalid: true, onInvalid: (file, error) => warn(`report: skipped ${file}: ${error.message}`) });
        let trainingMetrics = options.trainingMetrics;
        if (!trainingMetrics) {
          const parsed = await readMetricsFile(writer.path(this.report.metricsFile ?? 'metrics.jsonl'));
          trainingMetrics = parsed.records;
        }
        const { metricsFile: _metricsFile, fileName: _fileName, ...reportOptions } = this.report;
        files.report = await writer.writeFile(reportName, renderReport(history, { ...reportOptions, trainingMetrics }));
      } catch (error) {
        warn(`${reportName} not written: ${describeError(error)}`);
      }
    }
  }
}

function contactSheetEntry(pair: ValidationPair): ContactSheetEntry {
  const item = pair.item;
  const title = `#${item.index} [${item.category} · ${item.difficulty}] ${item.user_prompt}`;
  if (item.status === 'ok') {
    return {
      title,
      original: { image: pair.originalImages[0], label: `original ${formatNumber(item.original.total)}` },
      enhanced: { image: pair.enhancedImages[0], label: `enhanced ${formatNumber(item.enhanced.total)} (${formatSigned(item.improvement)}, ${item.outcome})` },
      note: `→ ${item.enhanced_prompt}${item.fallback.used ? ' [fallback]' : ''}`,
    };
  }
  const failedLabel = `failed at ${item.stage}`;
  return {
    title,
    original: { image: pair.originalImages[0], label: item.side === 'original' || !item.side ? failedLabel : 'original' },
    enhanced: { image: pair.enhancedImages[0], label: item.side === 'enhanced' || !item.side ? failedLabel : 'enhanced' },
    note: `${item.enhanced_prompt ? `→ ${item.enhanced_prompt} · ` : ''}error: ${item.error}`,
  };
}
