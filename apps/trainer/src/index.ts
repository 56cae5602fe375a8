/**
 * @vlm-grpo/trainer: the application that composes the @vlm-grpo packages into the GRPO loop.
 * This entry point exports the configuration schema and loader the trainer runs on.
 * @packageDocumentation
 */
export * from './config/config-schema.js';
export {
  DEFAULT_CONFIG_FILE,
  configIssues,
  expandDottedKeys,
  mergeConfigLayers,
  parseCliValue,
  readConfigFile,
  resolveTrainerConfig,
  type JsonObject,
  type ResolveConfigOptions,
} from './config/load-config.js';
export { ConfigValidationError, TrainerError, type ConfigIssue, type TrainerErrorCode } from './errors.js';
