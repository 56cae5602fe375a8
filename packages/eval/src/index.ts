/**
 * @vlm-grpo/eval: validation of a prompt enhancer — original vs enhanced images from the same
 * seed, rewards and components, win rate, success rates, per-category and per-difficulty tables,
 * rewrite lengths, fallback rate; `validation_iter_N.json`, a contact sheet PNG and an HTML report.
 * @packageDocumentation
 */

/** The npm name of this package. */
export const PACKAGE_NAME = '@vlm-grpo/eval' as const;

export { EvalError, InvalidResultError, TooManyFailuresError, describeError, type EvalErrorCode } from './errors.js';
export type {
  EnhanceCallOptions,
  EnhancedPrompt,
  FallbackInfo,
  ImageRenderer,
  ImageScore,
  ImageScorer,
  ItemError,
  PromptEnhancer,
  RenderCallOptions,
  RenderedImage,
  ScoreCallOptions,
} from './interfaces.js';
export {
  FAILURE_STAGES,
  VALIDATION_RESULT_FORMAT,
  VALIDATION_RESULT_VERSION,
  evaluatedItemSchema,
  failedItemSchema,
  groupRowSchema,
  parseValidationResult,
  rewardSchema,
  sideMetricsSchema,
  summarySchema,
  validationItemSchema,
  validationMetricsSchema,
  validationResultFileName,
  validationResultSchema,
  validationSettingsSchema,
  type EvaluatedItem,
  type FailedItem,
  type FailureStage,
  type GroupRow,
  type PromptReward,
  type SideMetrics,
  type Summary,
  type ValidationItem,
  type ValidationMetrics,
  type ValidationResult,
  type ValidationSettings,
} from './validation-result.js';
export { BEST_METRICS, compareRewards, computeMetrics, countWords, selectMetric, summarize, winRate, type BestMetric } from './metrics.js';
export {
  checkImage,
  contactSheetLayout,
  encodePng,
  renderContactSheet,
  type ContactSheetEntry,
  type ContactSheetLayout,
  type ContactSheetOptions,
  type ContactSheetTile,
} from './contact-sheet.js';
export { DASH_PATTERNS, MARKERS, lineChart, niceTicks, type ChartSeries, type LineChartOptions } from './svg-chart.js';
export { escapeHtml, wrapText } from './text.js';
export { TEXT_REWARD_NAMES, flattenMetricsRecord, parseMetricsJsonl, renderReport, type ParsedMetrics, type ReportOptions, type TrainingMetricsRecord } from './report.js';
export { VALIDATION_FILE_PATTERN, loadValidationHistory, readMetricsFile, type LoadHistoryOptions } from './history.js';
export {
  Validator,
  fnv1a32,
  imageSeeds,
  type ValidateOptions,
  type ValidationPair,
  type ValidationRun,
  type ValidatorContactSheetOptions,
  type ValidatorLogger,
  type ValidatorOptions,
  type ValidatorReportOptions,
} from './validator.js';
