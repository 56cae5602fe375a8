/**
 * @vlm-grpo/vlm: trainable prompt-enhancer language models in TensorFlow.js. GPT-2, Llama and
 * Qwen2 causal LMs loaded from and saved to Hugging Face checkpoints, KV-cached generation,
 * differentiable log-probabilities, `VLMWrapper` (prompt enhancement and the GRPO policy), SFT,
 * AdamW with global-norm clipping, and `TfjsPolicyEngine`, @vlm-grpo/grpo's `PolicyEngine` port on
 * any tfjs policy (the CPU path of GRPO and the parity oracle of other engines).
 * @packageDocumentation
 */

/** The npm name of this package. */
export const PACKAGE_NAME = '@vlm-grpo/vlm' as const;

export { AUTO_BACKEND_ORDER, initBackend, type BackendName, type BackendReport, type InitBackendOptions } from './backend.js';
export { describeBackendAbort, estimateWasmTrainingBytes, isBackendAbort, WASM_MEMORY_LIMIT_BYTES, type WasmTrainingEstimateOptions } from './wasm-memory.js';
export {
  CausalLM,
  TOKENIZER_FILES,
  readCheckpoint,
  type CausalLMInitOptions,
  type CausalLMLoadOptions,
  type FinishReason,
  type GenerateOptions,
  type GenerateOutput,
  type SaveOptions,
} from './causal-lm.js';
export {
  MissingWeightsError,
  SafetensorsError,
  UnsupportedArchitectureError,
  VlmError,
  type VlmErrorCode,
} from './errors.js';
export {
  CATEGORY_DESCRIPTORS,
  assessCompletion,
  contentWords,
  dropsSubject,
  isLooping,
  resolveCategory,
  ruleBasedEnrichment,
  type FailureReason,
} from './fallback.js';
export { OPTIONAL_MODEL_FILES, resolveModelDir, type HubOptions } from './hub.js';
export {
  GPT2_SMALL_CONFIG,
  SUPPORTED_ARCHITECTURES,
  detectArchitecture,
  parseModelConfig,
  weightSpecs,
  type Architecture,
  type ModelConfig,
  type RopeScaling,
  type WeightSpec,
} from './model-config.js';
export { AdamW, clipByGlobalNorm, DEFAULT_CHUNK_ELEMENTS, globalGradNorm, type AdamWOptions, type AdamWState, type ClipOptions, type TensorData } from './optim.js';
export type { PolicySampleOptions, PolicySampleResult, SequenceLogProbsOptions, TfjsPolicy } from './policy.js';
export { TfjsPolicyEngine, type TfjsPolicyEngineOptions } from './tfjs-policy-engine.js';
export type { TfDataType, TfTensor, TfTensor2D, TfTensor3D, TfVariable } from './tf-tensor.js';
export {
  CLIP_MAX_TOKENS,
  approximateClipTokenCount,
  collapseRepetitions,
  postProcessPrompt,
  truncateToClipTokens,
  type PostProcessOptions,
} from './post-process.js';
export {
  MAX_SAFETENSORS_HEADER_BYTES,
  SAFETENSORS_DTYPES,
  float16BitsToFloat,
  float32ToTensor,
  floatToBfloat16Bits,
  floatToFloat16Bits,
  parseSafetensors,
  readSafetensorsFile,
  serializeSafetensors,
  tensorToFloat32,
  writeSafetensorsFile,
  type SafetensorsDtype,
  type SafetensorsFile,
  type SafetensorsInput,
  type SafetensorsTensor,
} from './safetensors.js';
export {
  applyNoRepeatNgram,
  applyRepetitionPenalty,
  applyTopK,
  applyTopP,
  bannedNgramTokens,
  chooseToken,
  logSumExp,
  tokenLogProb,
  type TokenChoiceOptions,
} from './sampling.js';
export { sft, type ScheduleKind, type SftOptions, type SftPair, type SftResult, type SftStepLog } from './sft.js';
export {
  HfTokenizer,
  renderChatTemplate,
  renderPlainTemplate,
  type ChatMessage,
  type TextTokenizer,
} from './tokenizer.js';
export {
  DEFAULT_PLAIN_TEMPLATE,
  DEFAULT_SYSTEM_PROMPT,
  VLMWrapper,
  type EnhanceOptions,
  type EnhanceResult,
  type FallbackMode,
  type PromptFormat,
  type SampleOptions,
  type VLMWrapperOptions,
  type VLMWrapperSettings,
} from './vlm-wrapper.js';
