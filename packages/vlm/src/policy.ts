/**
 * The TensorFlow.js policy contract: what {@link TfjsPolicyEngine} needs from a trainable tfjs
 * model to implement @vlm-grpo/grpo's `PolicyEngine` port. {@link VLMWrapper} implements it; so
 * can any small tfjs model (tests use unigram and bigram ones). Sampling types are grpo's (this
 * package imports them as types; grpo never depends on this package).
 *
 * Log-probabilities everywhere are log-softmax(logits / T) with the sampling temperature T
 * (default 1), as TRL computes old/reference log-probs.
 */
import type { LogProbOptions, PolicySampleOptions, PolicySampleResult } from '@vlm-grpo/grpo';
import type { TfTensor2D, TfVariable } from './tf-tensor.js';

export type { PolicySampleOptions, PolicySampleResult };

/** Options of {@link TfjsPolicy.sequenceLogProbs} (and `CausalLM#sequenceLogProbs`): grpo's `LogProbOptions`. */
export type SequenceLogProbsOptions = LogProbOptions;

/** A trainable TensorFlow.js policy (see the file header). */
export interface TfjsPolicy {
  /** Sample completions for user prompts (the policy applies its own prompt/chat template). */
  sample(prompts: string[], options?: PolicySampleOptions): Promise<PolicySampleResult>;
  /**
   * Per-token log-probs of `completionIds` given `promptIds`, DIFFERENTIABLE w.r.t.
   * `trainableVariables()` (call inside tf.variableGrads).
   * Returns logProbs [N, Tmax] (Tmax = longest completion; padded positions are 0) and, when
   * `withEntropy` is true, the entropy of the full next-token distribution at each completion
   * position, entropy [N, Tmax] (not differentiated, may be computed under a stop-gradient).
   */
  sequenceLogProbs(
    promptIds: number[][],
    completionIds: number[][],
    options?: SequenceLogProbsOptions,
  ): { logProbs: TfTensor2D; entropy?: TfTensor2D };
  /** The trainable weights, in a stable order (same order in a clone). */
  trainableVariables(): TfVariable[];
  /**
   * Names of {@link trainableVariables}, same order (Hugging Face tensor names where the model has
   * them); optional: the engine names them `param.<index>` otherwise.
   */
  parameterNames?(): string[];
  /** An independent deep copy (own variables), used as the frozen reference model. */
  clone(): Promise<TfjsPolicy>;
  /** Free every tensor the policy owns. */
  dispose(): void;
}
