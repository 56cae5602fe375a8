/**
 * @vlm-grpo/clip-reward: CLIP image–text rewards for Node.js (embeddings, CLIP score, relevance to
 * the original prompt, consistency, no-reference quality, aesthetic heads), combinable with weights
 * and per-component normalisation. See README.md.
 * @packageDocumentation
 */

export {
  CLIPRewardCalculator,
  type CLIPRewardOptions,
  type CalculateRewardsOptions,
  type ComponentSettings,
  type CustomRewardConfig,
  type NormalizationState,
  type RewardResult,
  type RewardsConfig,
} from './clip-reward-calculator.js';
export type { ClipDevice, ClipDtype, ClipLayout, ClipLogger, ClipModelOptions, TextEncoding } from './clip-model.js';
export {
  aestheticReward,
  consistencyReward,
  mutualImageSimilarity,
  promptistGate,
  qualityReward,
  relevanceToOriginalReward,
  scoreCosine,
  similarityReward,
  type ClipScoreMode,
  type ConsistencyOptions,
  type QualityOptions,
  type RelevanceOptions,
  type RewardContext,
  type RewardFunction,
  type SimilarityOptions,
} from './reward-functions.js';
export { AestheticHead, type AestheticHeadOptions, type DenseLayer, type HeadActivation } from './aesthetic-head.js';
export { imageQuality, SHARPNESS_HALF_POINT, type ImageQuality, type QualityCheck, type QualityWeights } from './image-quality.js';
export { Normalizer, RunningStats, type NormalizationSpec, type NormalizerState } from './normalization.js';
export { decodeImage, decodeImageBytes, sniffImageFormat, type ImageFormat, type ImageInput, type RawImageInput, type RgbImage } from './image-input.js';
export {
  parsePreprocessorConfig,
  preprocessImage,
  resizeAndCrop,
  resizeOutputSize,
  type ClipPreprocessConfig,
} from './clip-preprocess.js';
export { resizeImage, PIL_RESAMPLE, type ResampleFlavour } from './resample.js';
export {
  SafetensorsFile,
  encodeSafetensors,
  parseSafetensorsHeader,
  readSafetensorsTensor,
  type SafetensorsHeader,
  type SafetensorsTensorInfo,
  type SafetensorsTensorInput,
} from './safetensors.js';
export { cosineSimilarity, dot, l2Normalize } from './vector-math.js';
export { LruCache } from './lru-cache.js';
export {
  ClipRewardError,
  EmptyTextError,
  ImageInputError,
  MismatchedLengthsError,
  ModelFileMissingError,
  SafetensorsError,
  type ClipRewardErrorCode,
  type ImageProblem,
} from './errors.js';
