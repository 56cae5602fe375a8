/**
 * The original design's configuration names, accepted beside ours. The original
 * `default_config.json` has `model_settings` (`vlm_model`, `sd_model`, `clip_model`, `device`) and
 * `training_settings` (`learning_rate`, `group_size`, `num_iterations`, `batch_size`); every name
 * there is ours too except `group_size`, the number of rewrites per prompt (G), which TRL calls
 * `num_generations` and so do we. A layer (file or flags) may use either name; giving both with
 * different values is an error that names both keys. Names are rewritten per layer, before the
 * layers merge, so `--training_settings.group_size 8` overrides a file's `num_generations`.
 */
import { ConfigValidationError } from '../errors.js';

/** Original name → our name, as dotted key paths. */
export const ORIGINAL_CONFIG_NAMES: Readonly<Record<string, string>> = {
  'training_settings.group_size': 'training_settings.num_generations',
};

type JsonObject = { [key: string]: unknown };
const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A copy of a (nested) configuration layer with the original names rewritten to ours.
 * @throws ConfigValidationError naming `source` when a layer sets both names to different values.
 */
export function normalizeOriginalNames(layer: JsonObject, source: string): JsonObject {
  let result = layer;
  for (const [original, ours] of Object.entries(ORIGINAL_CONFIG_NAMES)) {
    const [section, originalKey] = original.split('.') as [string, string];
    const oursKey = ours.split('.')[1]!;
    const settings = result[section];
    if (!isObject(settings) || !Object.hasOwn(settings, originalKey)) continue;
    const { [originalKey]: value, ...rest } = settings;
    if (Object.hasOwn(rest, oursKey) && JSON.stringify(rest[oursKey]) !== JSON.stringify(value)) {
      throw new ConfigValidationError(source, [
        { path: original, message: `is the original design's name of ${ours}, which this layer also sets to a different value (${JSON.stringify(rest[oursKey])} vs ${JSON.stringify(value)}); keep one` },
      ]);
    }
    result = { ...result, [section]: { ...rest, [oursKey]: value } };
  }
  return result;
}
