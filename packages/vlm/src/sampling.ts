/**
 * Next-token selection on one row of logits, in JavaScript (float64), in the order of Hugging Face
 * `generate`: repetition penalty, then the n-gram ban (logits processors, also applied when greedy,
 * in the order of HF `_get_logits_processor`), then temperature, top-k and top-p (warpers,
 * sampling only), then a multinomial draw from a seeded source.
 *
 * - repetition penalty (CTRL, HF `RepetitionPenaltyLogitsProcessor`): for every token already in the
 *   sequence (prompt included) a score s becomes s·p when s < 0, s/p otherwise;
 * - no-repeat n-gram (HF `NoRepeatNGramLogitsProcessor`, `no_repeat_ngram_size` n): with the
 *   sequence so far x (prompt included) of length L ≥ n − 1, every token t such that
 *   (x[L−n+1..L−1], t) already occurs as an n-gram of x gets score −∞. Departure: HF's sequence of a
 *   left-padded row includes the pad tokens; here the context is the unpadded row, so padding never
 *   forms or bans an n-gram;
 * - top-k (HF `TopKLogitsWarper`): scores strictly below the k-th largest are removed (ties kept);
 * - top-p (HF `TopPLogitsWarper`): sort ascending, remove tokens whose cumulative probability is
 *   ≤ 1 − p, always keeping the most likely token;
 * - greedy: the first index of the maximum (as `torch.argmax`).
 *
 * The log-probability reported for the chosen token is that of the model's own distribution,
 * log-softmax(logits / T) with the sampling temperature T (1 when greedy), before the repetition
 * penalty and top-k/top-p: the quantity `sequenceLogProbs` recomputes (what GRPO needs as old
 * log-probs).
 */
import type { SeededRandom } from '@vlm-grpo/data';

/** Options that shape the choice of the next token. */
export interface TokenChoiceOptions {
  /** Greedy decoding (argmax after the repetition penalty). */
  greedy: boolean;
  /** Temperature (> 0) used when sampling. */
  temperature: number;
  /** Keep only the k most likely tokens (0 = off). */
  topK: number;
  /** Nucleus mass (1 = off). */
  topP: number;
  /** Repetition penalty (1 = off). */
  repetitionPenalty: number;
  /** Ban tokens that would repeat an n-gram of this size (0 = off; optional, default 0). */
  noRepeatNgramSize?: number;
}

/** log Σ exp(x_i / T) in float64. */
export function logSumExp(logits: ArrayLike<number>, temperature = 1): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i += 1) max = Math.max(max, logits[i]! / temperature);
  if (!Number.isFinite(max)) return max;
  let sum = 0;
  for (let i = 0; i < logits.length; i += 1) sum += Math.exp(logits[i]! / temperature - max);
  return max + Math.log(sum);
}

/** log-softmax(logits / T)[token]. */
export function tokenLogProb(logits: ArrayLike<number>, token: number, temperature = 1): number {
  return logits[token]! / temperature - logSumExp(logits, temperature);
}

/** Apply the repetition penalty in place to `scores` for every distinct token of `context`. */
export function applyRepetitionPenalty(scores: Float64Array, context: readonly number[], penalty: number): void {
  if (penalty === 1) return;
  const seen = new Set(context);
  for (const token of seen) {
    if (token < 0 || token >= scores.length) continue;
    const score = scores[token]!;
    scores[token] = score < 0 ? score * penalty : score / penalty;
  }
}

/**
 * Tokens banned by HF `NoRepeatNGramLogitsProcessor` for the sequence `context`: the tokens that
 * follow an earlier occurrence of its last n − 1 tokens (empty when n ≤ 0 or the sequence is
 * shorter than n − 1; n = 1 bans every token already present).
 */
export function bannedNgramTokens(context: readonly number[], n: number): Set<number> {
  const banned = new Set<number>();
  if (n <= 0 || context.length + 1 < n) return banned;
  const start = context.length - (n - 1); // first index of the current (n − 1)-token suffix
  for (let i = 0; i + n <= context.length; i += 1) {
    let match = true;
    for (let j = 0; j < n - 1; j += 1) {
      if (context[i + j] !== context[start + j]) {
        match = false;
        break;
      }
    }
    if (match) banned.add(context[i + n - 1]!);
  }
  return banned;
}

/** Set the scores of the tokens banned by {@link bannedNgramTokens} to −∞, in place. */
export function applyNoRepeatNgram(scores: Float64Array, context: readonly number[], n: number): void {
  for (const token of bannedNgramTokens(context, n)) if (token >= 0 && token < scores.length) scores[token] = Number.NEGATIVE_INFINITY;
}

/** Index of the first maximum. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i += 1) if (values[i]! > values[best]!) best = i;
  return best;
}

/** Remove (set to −∞) scores strictly below the k-th largest. */
export function applyTopK(scores: Float64Array, k: number): void {
  if (k <= 0 || k >= scores.length) return;
  const sorted = Float64Array.from(scores).sort();
  const threshold = sorted[sorted.length - k]!;
  for (let i = 0; i < scores.length; i += 1) if (scores[i]! < threshold) scores[i] = Number.NEGATIVE_INFINITY;
}

/** Nucleus filtering as HF `TopPLogitsWarper` (ascending sort, cumulative mass ≤ 1 − p removed). */
export function applyTopP(scores: Float64Array, p: number): void {
  if (p >= 1) return;
  const order = Array.from(scores.keys()).sort((a, b) => scores[a]! - scores[b]! || a - b);
  const lse = logSumExp(scores);
  let cumulative = 0;
  for (let rank = 0; rank < order.length - 1; rank += 1) {
    const index = order[rank]!;
    cumulative += Math.exp(scores[index]! - lse);
    if (cumulative <= 1 - p) scores[index] = Number.NEGATIVE_INFINITY;
    else break;
  }
}

/** Draw an index from softmax(scores) with one uniform number from `random`. */
export function sampleFromScores(scores: Float64Array, random: SeededRandom): number {
  const lse = logSumExp(scores);
  const u = random.nextFloat();
  let cumulative = 0;
  let last = 0;
  for (let i = 0; i < scores.length; i += 1) {
    if (scores[i] === Number.NEGATIVE_INFINITY) continue;
    cumulative += Math.exp(scores[i]! - lse);
    last = i;
    if (u < cumulative) return i;
  }
  return last;
}

/** Choose the next token from one row of raw logits. */
export function chooseToken(
  logits: ArrayLike<number>,
  context: readonly number[],
  options: TokenChoiceOptions,
  random: SeededRandom,
): number {
  const scores = Float64Array.from(logits as ArrayLike<number>);
  applyRepetitionPenalty(scores, context, options.repetitionPenalty);
  applyNoRepeatNgram(scores, context, options.noRepeatNgramSize ?? 0);
  if (options.greedy) return argmax(scores);
  if (options.temperature !== 1) for (let i = 0; i < scores.length; i += 1) scores[i] = scores[i]! / options.temperature;
  applyTopK(scores, options.topK);
  applyTopP(scores, options.topP);
  return sampleFromScores(scores, random);
}
