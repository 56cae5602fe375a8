/**
 * Whether the tfjs WASM backend can train the loaded policy within its memory (4 GiB, wasm32), and
 * what to do when it cannot. A real-size SmolLM2-135M aborted WASM in its first updates (BENCHMARKS,
 * "Real scale"); the estimate is @vlm-grpo/vlm's `estimateWasmTrainingBytes` (measured: about 10×
 * the fp32 weights, 11× with a reference model, plus 20× the logits of one GRPO micro-batch).
 *
 * - `policy_tfjs_backend: auto` on WASM with a policy that does not fit: the policy moves to tfjs's
 *   `cpu` backend (plain JavaScript memory, no such limit, several times slower), with one INFO line.
 * - An explicit `policy_tfjs_backend: wasm`: refused before training, with the numbers and the
 *   ways out (the run would abort in its first updates).
 * - Any other backend, or inference only (`enhance`): nothing to do.
 */

/** What {@link planWasmTraining} decides. */
export type WasmTrainingPlan = { action: 'keep' } | { action: 'use-cpu'; reason: string } | { action: 'refuse'; reason: string };

/** Inputs of {@link planWasmTraining}. */
export interface WasmTrainingInput {
  /** The tfjs backend the policy loaded on (`tf.getBackend()`). */
  activeBackend: string;
  /** `model_settings.policy_tfjs_backend` as configured (`auto`, `wasm`, …). */
  requested: string;
  /** Trainable parameters of the policy. */
  numParameters: number;
  /** A reference model is kept (GRPO beta ≠ 0). */
  reference: boolean;
  /** Sequences per forward/backward call: batch_size × num_generations / gradient_accumulation_steps. */
  sequences: number;
  /** Longest completion: generation_settings.max_new_tokens. */
  completionTokens: number;
  /** The policy's vocabulary size. */
  vocabSize: number;
  /** @vlm-grpo/vlm's `estimateWasmTrainingBytes`. */
  estimate(numParameters: number, options: { reference: boolean; sequences: number; completionTokens: number; vocabSize: number }): number;
  /** @vlm-grpo/vlm's `WASM_MEMORY_LIMIT_BYTES`. */
  limit: number;
}

const GIB = 1024 ** 3;

/** Keep the WASM backend, move the policy to `cpu`, or refuse (see the file header). */
export function planWasmTraining(input: WasmTrainingInput): WasmTrainingPlan {
  if (input.activeBackend !== 'wasm') return { action: 'keep' };
  const { reference, sequences, completionTokens, vocabSize } = input;
  const needed = input.estimate(input.numParameters, { reference, sequences, completionTokens, vocabSize });
  if (needed <= input.limit) return { action: 'keep' };
  const reason =
    `training ${(input.numParameters / 1e6).toFixed(1)}M parameters on the tfjs WASM backend needs about ${(needed / GIB).toFixed(1)} GiB of its memory ` +
    `(the ${((input.numParameters * 4) / GIB).toFixed(2)} GiB of fp32 weights, their gradients, AdamW's moments${reference ? ', the reference model of beta ≠ 0' : ''} and their packed matmul copies, ` +
    `and the logits of ${sequences} sequences × ${completionTokens} tokens × ${vocabSize} vocabulary), and WASM holds at most ${(input.limit / GIB).toFixed(0)} GiB`;
  return input.requested === 'auto' ? { action: 'use-cpu', reason } : { action: 'refuse', reason };
}
