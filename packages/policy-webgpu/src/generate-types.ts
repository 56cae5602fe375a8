/**
 * The public options and result of `WebGpuPolicyEngine.generate`: @vlm-grpo/vlm's
 * `CausalLM.generate` contract, re-exported under the engine's names so that the engine and the
 * tfjs model are interchangeable behind the trainer's generation port. Kept apart from
 * generation.ts so that the package's public declarations name no WebGPU globals (`GPUBuffer`, …):
 * a Node.js consumer compiles them without the DOM lib or @webgpu/types.
 *
 * What differs on the engine (same fields, same defaults otherwise):
 * - `padTokenId` defaults to the engine's padding id (the wrapper's pad, else first EOS, else 0),
 *   as the tfjs model's does;
 * - `completionLogProbs` are log-softmax(logits / T) of each chosen token, taken before the
 *   repetition penalty, top-k/top-p and n-gram filtering (T = 1 when greedy), as on tfjs.
 */

import type { FinishReason, GenerateOptions, GenerateOutput } from '@vlm-grpo/vlm';

/** Options of `WebGpuPolicyEngine.generate`: @vlm-grpo/vlm's `GenerateOptions` (same defaults). */
export type GpuGenerateOptions = GenerateOptions;

/** Why a generated row stopped: 'eos', 'stop' (a stop string) or 'length'. */
export type GpuFinishReason = FinishReason;

/** Result of `WebGpuPolicyEngine.generate`; rows are prompt-major (row = prompt·G + g). */
export type GpuGenerateOutput = GenerateOutput;
