/**
 * @vlm-grpo/data: prompt records, JSONL loading, dataset sampling and result writing.
 * @packageDocumentation
 */
export { DataError, InvalidRecordsError, type DataErrorCode, type RecordIssue } from './errors.js';
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
