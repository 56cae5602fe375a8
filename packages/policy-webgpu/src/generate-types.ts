/**
 * The public options and result of `WebGpuPolicyEngine.generate` (the contract of @vlm-grpo/vlm's
 * `CausalLM.generate`), kept apart from generation.ts so that the package's public declarations
 * name no WebGPU globals (`GPUBuffer`, …): a Node.js consumer compiles them without the DOM lib
 * or @webgpu/types.
 */

/** Options of `WebGpuPolicyEngine.generate` (those of @vlm-grpo/vlm's `GenerateOptions`). */
export interface GpuGenerateOptions {
  /** Maximum number of new tokens (default: 32). */
  maxNewTokens?: number;
  /** Sample instead of greedy decoding (default: false, as Hugging Face `generate`). */
  doSample?: boolean;
  /** Sampling temperature (default: 1); 0 means greedy. */
  temperature?: number;
  /** Top-k filtering, 0 = off (default: 0). */
  topK?: number;
  /** Nucleus filtering, 1 = off (default: 1). */
  topP?: number;
  /** Repetition penalty, 1 = off (default: 1). */
  repetitionPenalty?: number;
  /** Ban tokens that would repeat an n-gram of this size (prompt included); 0 = off (default: 0). */
  noRepeatNgramSize?: number;
  /** Completions per prompt; rows are prompt-major (default: 1). */
  numReturnSequences?: number;
  /** Seed of the sampler; the same seed gives the same tokens (default: a random seed). */
  seed?: number;
  /** Token ids that end a sequence (default: the config's EOS ids). */
  eosTokenIds?: number[];
  /** Strings that end a sequence once they appear in the decoded completion (needs `decode`). */
  stopStrings?: string[];
  /** Decoder used to check `stopStrings`. */
  decode?: (ids: number[]) => string;
  /** Padding id of the left-padded prompts (default: the engine's). */
  padTokenId?: number;
}

/** Why a generated row stopped. */
export type GpuFinishReason = 'eos' | 'stop' | 'length';

/** Result of `WebGpuPolicyEngine.generate`; rows are prompt-major (row = prompt·G + g). */
export interface GpuGenerateOutput {
  /** [N][Lp+Lc] prompt followed by the completion. */
  sequences: number[][];
  /** [N][Lp] prompt ids. */
  promptIds: number[][];
  /** [N][Lc] completion ids, EOS included when produced, nothing after. */
  completionIds: number[][];
  /** [N][Lc] log-softmax(logits / T) of each chosen token (T = 1 when greedy), before penalty and filtering. */
  completionLogProbs: number[][];
  /** [N] why each row stopped. */
  finishReasons: GpuFinishReason[];
}
