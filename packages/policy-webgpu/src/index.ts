/**
 * @vlm-grpo/policy-webgpu: a fused WebGPU policy engine for GRPO. Hand-written WGSL forward and
 * backward kernels for GPT-2, Llama and Qwen2 (llm.c's layout: one kernel family per file in
 * `kernels/`), weights, gradients and AdamW state resident on the GPU, recorded command lists
 * replayed once per forward, backward and optimizer step; optional f16 mixed precision and
 * activation recomputation; generation with a KV cache and on-GPU sampling (`generate`). `WebGpuPolicyEngine` implements
 * @vlm-grpo/grpo's `PolicyEngine` port; `createWebGpuPolicyEngine` is the trainer's entry point.
 * The `webgpu` package (Dawn) is imported lazily, on the first device request.
 * @packageDocumentation
 */

/** The npm name of this package. */
export const PACKAGE_NAME = '@vlm-grpo/policy-webgpu' as const;

export { WebGpuPolicyEngine, type WebGpuPolicyEngineOptions } from './engine.js';
export { createWebGpuPolicyEngine, type CreateWebGpuPolicyEngineOptions, type WrapperLike } from './from-wrapper.js';
export type { GpuFinishReason, GpuGenerateOptions, GpuGenerateOutput } from './generate-types.js';
export { PolicyWebGpuError, type PolicyWebGpuErrorCode } from './errors.js';
export { createPolicyDevice, createProfiler, type PolicyDeviceOptions } from './device.js';
export type {
  EngineModelConfig,
  EnginePrecision,
  EngineRecompute,
  EngineRopeScaling,
  EngineWeightSpec,
  MatmulF16Path,
  ParamEntry,
  ParamLayout,
  PlanMemory,
  PlanShape,
  PolicyDevice,
  PolicyProfiler,
} from './model-types.js';
export { estimatePlanMemory } from './plan-memory.js';
