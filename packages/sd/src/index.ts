/**
 * @vlm-grpo/sd: text-to-image diffusion over ONNX Runtime (Stable Diffusion 1.x/2.x, SD-Turbo,
 * SDXL/SDXL-Turbo, SD3) with schedulers that match Hugging Face diffusers. See README.md.
 * @packageDocumentation
 */

/** The npm name of this package. */
export const PACKAGE_NAME = '@vlm-grpo/sd' as const;

export { combineTerms, evaluateAffineStep } from './affine-step.js';
export type { AffineStep, AffineTerms } from './affine-step.js';
export { ClipTokenizer } from './clip-tokenizer.js';
export type { ClipTokenizerSpecials, TokenizeOptions } from './clip-tokenizer.js';
export { DiffusionPipeline } from './diffusion-pipeline.js';
export type { AnyDiffusionPipeline } from './diffusion-pipeline.js';
export { ModelFileNotFoundError, QualityCheckError, SdError } from './errors.js';
export type { SdErrorCode } from './errors.js';
export { ModelRepository } from './model-files.js';
export type { HubOptions } from './model-files.js';
export { ONNX_EQUIVALENTS, onnxConversionCommand, onnxEquivalent } from './onnx-equivalents.js';
export { SafetyChecker } from './safety-checker.js';
export type { SafetyCheckerOptions, SafetyImage, SafetyResult } from './safety-checker.js';
export { float16BitsToFloat32, float32ToFloat16Bits } from './numeric.js';
export { contribOpsToLower, LOWERABLE_CONTRIB_OPS } from './onnx-contrib-lowering.js';
export type { LowerableContribOp, LoweringDevice } from './onnx-contrib-lowering.js';
export { OnnxModel } from './onnx-session.js';
export { portableOnnxModel } from './portable-onnx-model.js';
export type { PortableOnnxModel, PortableRewrites } from './portable-onnx-model.js';
export type { Device, Logger, OrtModuleLike, OrtTensor, OrtTensorData, OrtTensorType, SessionSettings, TensorInfo } from './onnx-session.js';
export { BasePipeline } from './pipeline-base.js';
export type { Conditioning, GenerateOptions, PipelineOptions, StepInfo, ValidationMode } from './pipeline-base.js';
export { MAX_SEED, PhiloxGenerator, philox4x32, randomSeed } from './random.js';
export type { NoiseSource, Scheduler, SchedulerStepResult, SetTimestepsOptions } from './scheduler.js';
export { parseSchedulerConfig, SCHEDULER_ALIASES, SCHEDULER_NAMES, schedulerConfigSchema } from './scheduler-config.js';
export type { SchedulerConfig, SchedulerName } from './scheduler-config.js';
export { DDIMScheduler } from './scheduler-ddim.js';
export { DPMSolverMultistepScheduler } from './scheduler-dpm-solver.js';
export { EulerDiscreteScheduler } from './scheduler-euler.js';
export { EulerAncestralDiscreteScheduler } from './scheduler-euler-ancestral.js';
export { createScheduler, resolveSchedulerName, SCHEDULER_CHOICE_CLASSES, SCHEDULER_CHOICES, schedulerFromConfig } from './scheduler-factory.js';
export type { SchedulerChoice, SchedulerSpec } from './scheduler-factory.js';
export { calculateShift, FlowMatchEulerDiscreteScheduler } from './scheduler-flow-match.js';
export { LCMScheduler } from './scheduler-lcm.js';
export { PNDMScheduler } from './scheduler-pndm.js';
export { SD3Generator } from './sd3-generator.js';
export type { SD3GeneratorOptions } from './sd3-generator.js';
export { checkQuality, SdImage } from './sd-image.js';
export type { QualityIssue, QualityReport, QualityThresholds } from './sd-image.js';
export { guidanceScaleEmbedding, StableDiffusionPipeline } from './stable-diffusion-pipeline.js';
export type { StableDiffusionArchitecture } from './stable-diffusion-pipeline.js';
export type { FloatTensor } from './text-encoder.js';
export type { StageTimings } from './timings.js';
