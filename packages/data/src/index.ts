/**
 * @vlm-grpo/data: prompt records, streaming JSONL loading, dataset sampling, atomic result
 * writing, and the model-file cache shared with the Hugging Face tools (hub-cache.ts) for vlm-grpo.
 * @packageDocumentation
 */
export { DataError, InvalidRecordsError, type DataErrorCode, type RecordIssue } from './errors.js';
export { readTextLines, type ReadTextLinesOptions, type TextLine } from './jsonl-reader.js';
export {
  formatSchemaIssues,
  loadPrompts,
  type DuplicatePrompt,
  type LoadedPrompts,
  type LoadPromptsOptions,
} from './load-prompts.js';
export {
  PromptDataset,
  balancedOrder,
  repeatByGroup,
  stratumOf,
  type BalancedBatchOptions,
  type BatchOptions,
  type PromptCounts,
  type PromptFilter,
  type SplitOptions,
  type StratifyKey,
} from './prompt-dataset.js';
export {
  DIFFICULTIES,
  MAX_USER_PROMPT_LENGTH,
  difficultySchema,
  normalizePromptText,
  promptRecordSchema,
  type Difficulty,
  type PromptRecord,
  type PromptRecordInput,
} from './prompt-record.js';
export { PromptSampler, type PromptSamplerOptions, type PromptSamplerState } from './prompt-sampler.js';
export {
  RUN_MARKER_FILE,
  ResultWriter,
  ensureDirectory,
  syncDirectory,
  writeFileAtomic,
  writeJsonAtomic,
  type AtomicFileHandle,
  type AtomicWriteFs,
  type ResultWriterOptions,
  type RunMarker,
  type WriteFileAtomicOptions,
} from './result-writer.js';
export { createSeededRandom, deriveSeed, shuffleInPlace, type SeededRandom } from './seeded-random.js';
export {
  HubRepository,
  hubCacheDir,
  isHubOffline,
  isHubRepoId,
  resolveLocalModelDir,
  type HubCacheOptions,
} from './hub-cache.js';
export { checkModelFileName, checkOnnxExternalData, onnxExternalDataLocations, safeModelFilePath } from './model-file-paths.js';
