/**
 * The policy-engine port: everything @vlm-grpo/grpo needs from a trainable language model, on
 * plain numbers and typed arrays (no tensors, no ML framework). The GRPO loss and its gradient per
 * token are computed here, in grpo ({@link grpoLoss}); an engine turns token ids into per-token
 * log-probs (forward) and per-token dL/d(log-prob) into parameter gradients (backward), and owns the
 * optimizer (global-norm clipping + AdamW).
 *
 * Implementations: `TfjsPolicyEngine` (@vlm-grpo/vlm, TensorFlow.js: the CPU path and the parity
 * oracle) and the fused WebGPU engine (@vlm-grpo/policy-webgpu). Conventions every engine follows:
 * - Rows are prompt-major where the trainer groups them (`sample`: row = promptIndex·G + g).
 * - Log-probs are log_softmax(logits / T)[token] with the temperature T of the call (default 1),
 *   as TRL computes old/reference log-probs; entropy is that of softmax(logits / T).
 * - Gradients accumulate across `backward` calls until `optimizerStep` (which zeroes them) or
 *   `zeroGrad`.
 * - AdamW hyper-parameters ({@link AdamWHyperParameters}) are fixed when an engine is created;
 *   the learning rate and the clipping norm are given per step.
 */

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
  /** Deterministic sampling when set: the same seed gives the same completions. */
  seed?: number;
}

/** Completions for B prompts × G sequences, rows prompt-major: row = promptIndex·G + g. */
export interface PolicySampleResult {
  /** [B·G][Lp_i] token ids of the (templated) prompt of each row. */
  promptIds: number[][];
  /** [B·G][Lc_i] sampled completion ids (EOS included if produced, nothing after). */
  completionIds: number[][];
  /**
   * [B·G][Lc_i] log-prob of each sampled token: log-softmax(logits / T) with the sampling
   * temperature T (1 when greedy), BEFORE top-k/top-p filtering.
   */
  completionLogProbs: number[][];
  /** [B·G] decoded, post-processed completion text (what rewards read). */
  texts: string[];
  /** [B·G] true when maxNewTokens was hit without EOS. */
  truncated: boolean[];
}

/** A ragged batch: row i is promptIds[i] followed by completionIds[i]. */
export interface TokenBatch {
  /** [N][Lp_i] prompt ids (each row at least one token, e.g. BOS). */
  promptIds: readonly (readonly number[])[];
  /** [N][Lc_i] completion ids (may be empty). */
  completionIds: readonly (readonly number[])[];
}

/** Options of {@link PolicyEngine.logProbs} and {@link PolicyEngine.forwardTrain}. */
export interface LogProbOptions {
  /** Logits are divided by this before log-softmax (default: 1). */
  temperature?: number;
  /** Also return the entropy of the full next-token distribution per position (default: false). */
  withEntropy?: boolean;
}

/** Per-token values of the completion positions, one array per row (length = completionIds[i].length). */
export interface PerTokenResult {
  /** [N][Lc_i] log_softmax(logits / T)[completion token]. */
  logProbs: Float32Array[];
  /** [N][Lc_i] entropy of softmax(logits / T) (with `withEntropy`; carries no gradient). */
  entropy?: Float32Array[];
}

/** Options of {@link PolicyEngine.optimizerStep}. */
export interface OptimizerStepOptions {
  /** Learning rate of this update (the trainer's schedule). */
  learningRate: number;
  /** Global-norm clip (PyTorch `clip_grad_norm_`); ≤ 0 or undefined: no clipping (default: off). */
  maxGradNorm?: number;
}

/**
 * AdamW hyper-parameters, given when an engine is created (defaults: `torch.optim.AdamW`, except
 * weight decay 0 as TRL's GRPOConfig). Decay applies to matrices and embeddings (rank ≥ 2), not
 * to biases or norm scales.
 */
export interface AdamWHyperParameters {
  /** β1 (default: 0.9). */
  beta1?: number;
  /** β2 (default: 0.999). */
  beta2?: number;
  /** ε (default: 1e-8). */
  epsilon?: number;
  /** Decoupled weight decay λ (default: 0). */
  weightDecay?: number;
}

/** One parameter's weights and AdamW moments (row-major float32, all of `shape`'s size). */
export interface ParameterState {
  /** Dimensions. */
  shape: number[];
  /** The weights. */
  weights: Float32Array;
  /** AdamW first moment (absent on input: zeros, e.g. a reference model). */
  m?: Float32Array;
  /** AdamW second moment (absent on input: zeros). */
  v?: Float32Array;
}

/**
 * Optimizer + weights state of an engine for exact resume: the AdamW step count and, keyed by
 * parameter name (Hugging Face tensor names where the model has them), every parameter's weights
 * and moments. Moments may be left out where they are all zero (an engine that never stepped, e.g.
 * a reference model, need not allocate them); `setOptimizerState` reads absent moments as zeros.
 */
export interface OptimizerStateData {
  /** AdamW updates applied so far (the bias-correction t). */
  step: number;
  /** Parameter name → weights and moments, in the engine's stable parameter order. */
  parameters: Record<string, ParameterState>;
}

/**
 * What GRPO needs from a trainable policy. Every method but `dispose` is asynchronous: a GPU engine
 * reads results back without blocking.
 */
export interface PolicyEngine {
  /**
   * Sampling: prompt-major rows (row = promptIndex·G + g), log-probs of the sampled tokens before
   * top-k/top-p filtering, deterministic for a given `seed`.
   */
  sample(prompts: string[], options?: PolicySampleOptions): Promise<PolicySampleResult>;
  /** Forward only (no gradient state kept): per-token log-softmax(logits/T)[token] (+ entropy). */
  logProbs(batch: TokenBatch, options?: LogProbOptions): Promise<PerTokenResult>;
  /** Forward with activations kept for backward; returns the same values as logProbs. */
  forwardTrain(batch: TokenBatch, options?: LogProbOptions): Promise<PerTokenResult>;
  /**
   * Backward of Σ_i Σ_t grad[i][t]·logProb[i][t] for the last forwardTrain batch (grad[i] has
   * completionIds[i].length values); ACCUMULATES parameter gradients.
   */
  backward(gradLogProbs: readonly Float32Array[]): Promise<void>;
  /**
   * Global-norm clipping (PyTorch clip_grad_norm_), AdamW (decoupled weight decay) at learningRate,
   * zero grads. Returns the pre-clip norm. When that norm is not finite (NaN/±Infinity) nothing is
   * updated (weights, moments and step count stay; gradients are zeroed) and the norm is returned:
   * the trainer reports the failure.
   */
  optimizerStep(options: OptimizerStepOptions): Promise<{ gradNorm: number }>;
  /** Drop accumulated gradients. */
  zeroGrad(): Promise<void>;
  /** Reference model: an independent frozen copy (same parameters, own weights, fresh optimizer). */
  clone(): Promise<PolicyEngine>;
  /**
   * ref ← α·π + (1−α)·ref for every parameter (`this` is the reference, `source` the policy).
   * `source` may be any PolicyEngine with the same parameters (e.g. an object that wraps the engine
   * `clone()` was called on): take a fast path for your own kind, else read
   * `source.getOptimizerState()` by name.
   */
  syncFrom(source: PolicyEngine, alpha: number): Promise<void>;
  /** Optimizer + weights state for exact resume (plain typed arrays, no tensors). */
  getOptimizerState(): Promise<OptimizerStateData>;
  /**
   * Restore {@link getOptimizerState}'s output. Checks every name and shape first and changes
   * nothing when one does not fit (error naming the parameter).
   */
  setOptimizerState(state: OptimizerStateData): Promise<void>;
  /** Free everything the engine holds (weights, gradients, optimizer state, activations). */
  dispose(): void;
}

/** The methods of {@link PolicyEngine}, to check that an object implements the port. */
export const POLICY_ENGINE_METHODS = [
  'sample',
  'logProbs',
  'forwardTrain',
  'backward',
  'optimizerStep',
  'zeroGrad',
  'clone',
  'syncFrom',
  'getOptimizerState',
  'setOptimizerState',
  'dispose',
] as const satisfies readonly (keyof PolicyEngine)[];

/** The methods of {@link POLICY_ENGINE_METHODS} that `value` lacks (empty: it implements the port). */
export function missingEngineMethods(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return [...POLICY_ENGINE_METHODS];
  return POLICY_ENGINE_METHODS.filter((name) => typeof (value as Record<string, unknown>)[name] !== 'function');
}
