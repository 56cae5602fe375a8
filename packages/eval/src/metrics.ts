/**
 * Validation metrics: pure functions over the evaluated items.
 *
 * Definitions (n = evaluated prompts; failed prompts are excluded from everything but counts):
 * - improvement_i = enhanced_i − original_i (total rewards, each the mean over the prompt's images).
 * - outcome_i = `tie` when |improvement_i| ≤ tie_tolerance, else `win` (> 0) or `loss` (< 0).
 * - win rate = (wins + ½·ties) / n — ties count half, the usual convention for pairwise
 *   preference win rates (e.g. AlpacaEval, Chatbot-Arena style), so 0.5 means "no better, no worse"
 *   and a rewriter that returns the original prompt unchanged (identical image, identical reward)
 *   scores exactly 0.5.
 * - success rate = #{enhanced_i > success_threshold} / n (strictly greater);
 *   original success rate likewise on the originals.
 * - improvement rate = #{improvement_i > improvement_margin} / n (strictly greater).
 * - fallback rate = #{evaluated rewrites marked fallback.used} / n.
 * - summaries: mean, Bessel-corrected sample std (n − 1; `null` when n < 2), min, max, median
 *   (mean of the two middle values for even n).
 * - words: whitespace-separated tokens of the trimmed text (`"a  red fox "` → 3).
 * - component means: per component name, the mean over the evaluated prompts that report it.
 */
import type {
  EvaluatedItem,
  GroupRow,
  SideMetrics,
  Summary,
  ValidationItem,
  ValidationMetrics,
  ValidationSettings,
} from './validation-result.js';

/** Summary statistics of `values` (see the file header for the definitions). */
export function summarize(values: readonly number[]): Summary {
  const n = values.length;
  if (n === 0) return { count: 0, mean: null, std: null, min: null, max: null, median: null };
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const value of values) {
    sum += value;
    if (value < min) min = value;
    if (value > max) max = value;
  }
  const mean = sum / n;
  let std: number | null = null;
  if (n >= 2) {
    let squares = 0;
    for (const value of values) squares += (value - mean) ** 2;
    std = Math.sqrt(squares / (n - 1));
  }
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(n / 2);
  const median = n % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { count: n, mean, std, min, max, median };
}

/** Number of whitespace-separated words in `text`. */
export function countWords(text: string): number {
  const trimmed = text.trim();
  return trimmed === '' ? 0 : trimmed.split(/\s+/u).length;
}

/** `win` / `tie` / `loss` of an enhanced reward against the original one. */
export function compareRewards(original: number, enhanced: number, tieTolerance = 0): 'win' | 'tie' | 'loss' {
  const difference = enhanced - original;
  if (Math.abs(difference) <= tieTolerance) return 'tie';
  return difference > 0 ? 'win' : 'loss';
}

/** `(wins + ½·ties) / n`, or `null` when n is 0. */
export function winRate(wins: number, ties: number, losses: number): number | null {
  const n = wins + ties + losses;
  return n === 0 ? null : (wins + 0.5 * ties) / n;
}

function mean(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  let sum = 0;
  for (const value of values) sum += value;
  return sum / values.length;
}

function fraction(items: readonly EvaluatedItem[], predicate: (item: EvaluatedItem) => boolean): number | null {
  if (items.length === 0) return null;
  let hits = 0;
  for (const item of items) if (predicate(item)) hits++;
  return hits / items.length;
}

function sideMetrics(items: readonly EvaluatedItem[], side: 'original' | 'enhanced', threshold: number): SideMetrics {
  const sums = new Map<string, { sum: number; count: number }>();
  for (const item of items) {
    for (const [name, value] of Object.entries(item[side].components)) {
      const entry = sums.get(name) ?? { sum: 0, count: 0 };
      entry.sum += value;
      entry.count++;
      sums.set(name, entry);
    }
  }
  const components: SideMetrics['components'] = {};
  for (const name of [...sums.keys()].sort()) {
    const entry = sums.get(name)!;
    components[name] = { count: entry.count, mean: entry.sum / entry.count };
  }
  return {
    reward: summarize(items.map((item) => item[side].total)),
    components,
    success_rate: fraction(items, (item) => item[side].total > threshold),
  };
}

function groupRows(items: readonly ValidationItem[], keyOf: (item: ValidationItem) => string, settings: ValidationSettings, order?: readonly string[]): GroupRow[] {
  const groups = new Map<string, ValidationItem[]>();
  for (const item of items) {
    const key = keyOf(item);
    const list = groups.get(key) ?? [];
    list.push(item);
    groups.set(key, list);
  }
  const rank = (key: string) => {
    const position = order?.indexOf(key) ?? -1;
    return position === -1 ? Number.MAX_SAFE_INTEGER : position;
  };
  const keys = [...groups.keys()].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return keys.map((key) => {
    const group = groups.get(key)!;
    const evaluated = group.filter((item): item is EvaluatedItem => item.status === 'ok');
    const outcomes = { win: 0, tie: 0, loss: 0 };
    for (const item of evaluated) outcomes[item.outcome]++;
    return {
      key,
      count: evaluated.length,
      failed: group.length - evaluated.length,
      original_mean: mean(evaluated.map((item) => item.original.total)),
      enhanced_mean: mean(evaluated.map((item) => item.enhanced.total)),
      mean_improvement: mean(evaluated.map((item) => item.improvement)),
      win_rate: winRate(outcomes.win, outcomes.tie, outcomes.loss),
      success_rate: fraction(evaluated, (item) => item.enhanced.total > settings.success_threshold),
      improvement_rate: fraction(evaluated, (item) => item.improvement > settings.improvement_margin),
    };
  });
}

/**
 * Aggregate metrics of a validation from its items (evaluated and failed). Pure; `outcome` and
 * `improvement` of the items are used as recorded.
 */
export function computeMetrics(items: readonly ValidationItem[], settings: ValidationSettings): ValidationMetrics {
  const evaluated = items.filter((item): item is EvaluatedItem => item.status === 'ok');
  const outcomes = { win: 0, tie: 0, loss: 0 };
  for (const item of evaluated) outcomes[item.outcome]++;
  const improvement = summarize(evaluated.map((item) => item.improvement));
  const enhanced = sideMetrics(evaluated, 'enhanced', settings.success_threshold);
  const fallbackCount = evaluated.filter((item) => item.fallback.used).length;
  return {
    evaluated: evaluated.length,
    original: sideMetrics(evaluated, 'original', settings.success_threshold),
    enhanced,
    improvement,
    mean_improvement: improvement.mean,
    wins: outcomes.win,
    ties: outcomes.tie,
    losses: outcomes.loss,
    win_rate: winRate(outcomes.win, outcomes.tie, outcomes.loss),
    success_rate: enhanced.success_rate,
    improvement_rate: fraction(evaluated, (item) => item.improvement > settings.improvement_margin),
    fallback_count: fallbackCount,
    fallback_rate: evaluated.length === 0 ? null : fallbackCount / evaluated.length,
    rewrite_words: summarize(evaluated.map((item) => item.words.enhanced)),
    original_words: summarize(evaluated.map((item) => item.words.original)),
    by_category: groupRows(items, (item) => item.category, settings),
    by_difficulty: groupRows(items, (item) => item.difficulty, settings, ['easy', 'medium', 'hard']),
  };
}

/** Metrics a trainer may use to pick its best model (names match the trainer's `best_metric`). */
export const BEST_METRICS = ['enhanced_mean_reward', 'win_rate', 'mean_improvement'] as const;

/** Name of a metric usable for best-model selection. */
export type BestMetric = (typeof BEST_METRICS)[number];

/** The value of `metric` in `metrics` (`null` when nothing was evaluated). Higher is better for all. */
export function selectMetric(metrics: ValidationMetrics, metric: BestMetric): number | null {
  switch (metric) {
    case 'enhanced_mean_reward':
      return metrics.enhanced.reward.mean;
    case 'win_rate':
      return metrics.win_rate;
    case 'mean_improvement':
      return metrics.mean_improvement;
  }
}
