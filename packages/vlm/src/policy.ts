/**
 * The policy contract between a trainable language model (provider: {@link VLMWrapper}, or any
 * object of the same shape) and @vlm-grpo/grpo (consumer, which imports these types from here and
 * re-exports them). This is the only declaration of the contract. Provider and consumer must use
 * the same `@tensorflow/tfjs` engine.
 *
 * Log-probabilities everywhere are log-softmax(logits / T) with the sampling temperature T
 * (default 1), as TRL computes old/reference log-probs.
 */
import type * as tf from '@tensorflow/tfjs';

/** Options for sampling completions (all optional; defaults in brackets). */
export interface PolicySampleOptions {
  /** Completions per prompt [1]. */
  numReturnSequences?: number;
  /** Maximum new tokens per completion [64]. */
  maxNewTokens?: number;
  /** Sampling temperature [1.0]; 0 → greedy. */
  temperature?: number;
  /** Top-k filtering [0 = off]. */
  topK?: number;
  /** Nucleus filtering [1.0 = off]. */
  topP?: number;
  /** Repetition penalty [1.0 = off]. */
  repetitionPenalty?: number;
  /** Deterministic sampling when set. */
  seed?: number;
}

/** Completions for B prompts × G sequences, rows prompt-major: row = promptIndex*G + g. */
export interface PolicySampleResult {
  /** [B*G][Lp_i] token ids of the (templated) prompt of each row. */
  promptIds: number[][];
  /** [B*G][Lc_i] sampled completion ids (EOS included if produced, nothing after). */
  completionIds: number[][];
  /**
   * [B*G][Lc_i] log-prob of each sampled token: log-softmax(logits / T) with the sampling
   * temperature T (1 when greedy), BEFORE top-k/top-p filtering.
   */
  completionLogProbs: number[][];
  /** [B*G] decoded, post-processed completion text (what rewards read). */
  texts: string[];
  /** [B*G] true when maxNewTokens was hit without EOS. */
  truncated: boolean[];
}

/** Options of {@link GrpoPolicy.sequenceLogProbs} (and `CausalLM#sequenceLogProbs`). */
export interface SequenceLogProbsOptions {
  /** Also return the entropy of the full next-token distribution (default: false). */
  withEntropy?: boolean;
  /** Logits are divided by this before log-softmax (default: 1). */
  temperature?: number;
}

/** What GRPO needs from a trainable policy. */
export interface GrpoPolicy {
  /** Sample completions for user prompts (the policy applies its own prompt/chat template). */
  sample(prompts: string[], options?: PolicySampleOptions): Promise<PolicySampleResult>;
  /**
   * Per-token log-probs of `completionIds` given `promptIds`, DIFFERENTIABLE w.r.t.
   * `trainableVariables()` (call inside tf.variableGrads / optimizer.minimize).
   * Returns logProbs [N, Tmax] (Tmax = longest completion; padded positions are 0) and, when
   * `withEntropy` is true, the entropy of the full next-token distribution at each completion
   * position, entropy [N, Tmax] (not differentiated, may be computed under tf.stopGradient).
   */
  sequenceLogProbs(
    promptIds: number[][],
    completionIds: number[][],
    options?: SequenceLogProbsOptions,
  ): { logProbs: tf.Tensor2D; entropy?: tf.Tensor2D };
  /** The trainable weights, in a stable order (same order in a clone). */
  trainableVariables(): tf.Variable[];
  /** An independent deep copy (own variables), used as the frozen reference model. */
  clone(): Promise<GrpoPolicy>;
  /** Free every tensor the policy owns. */
  dispose(): void;
}
