import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { ConfigValidationError, TrainerError } from '../errors.js';
import { trainerConfigSchema } from './config-schema.js';
import { DEFAULT_CONFIG_FILE, expandDottedKeys, parseCliValue, readConfigFile, resolveTrainerConfig } from './load-config.js';

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-grpo-config-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});
async function configFile(name: string, content: string): Promise<string> {
  const path = join(folder, name);
  await writeFile(path, content);
  return path;
}
async function caught(promise: Promise<unknown>): Promise<ConfigValidationError> {
  const error = await promise.then(() => undefined, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(ConfigValidationError);
  return error as ConfigValidationError;
}

describe('the embedded default configuration', () => {
  it('validates and points only at models inside the repository', async () => {
    const config = await resolveTrainerConfig();
    expect(config.model_settings.vlm_model.startsWith('data/models/')).toBe(true);
    expect(config.model_settings.sd_model.startsWith('data/models/')).toBe(true);
    expect(config.model_settings.clip_model.startsWith('data/models/')).toBe(true);
    expect(config.model_settings.local_files_only).toBe(true);
    expect(config.training_settings.epsilon_high).toBe(0.28);
    // A key left out of the file takes the schema default.
    expect(config.training_settings.adam_beta2).toBe(0.999);
    expect(config.reward_settings.consistency.weight).toBe(0);
  });

  it('has exactly the schema defaults for every key it does not set', () => {
    const defaults = trainerConfigSchema.parse({});
    expect(defaults.training_settings.learning_rate).toBe(1e-5);
    expect(defaults.output_settings.output_dir).toBe('vlm_grpo_results');
    expect(defaults.logging_settings.log_file).toBe('vlm_grpo_training.log');
    expect(DEFAULT_CONFIG_FILE.endsWith(join('config', 'default_config.json'))).toBe(true);
  });
});

describe('resolveTrainerConfig layers', () => {
  it('applies defaults ← file ← user file ← CLI overrides in order', async () => {
    const user = await configFile('user.json', JSON.stringify({ training_settings: { learning_rate: 3e-6, batch_size: 2 } }));
    const config = await resolveTrainerConfig({
      config: user,
      overrides: { 'training_settings.learning_rate': 2e-6, 'model_settings.device': 'cpu' },
    });
    expect(config.training_settings.learning_rate).toBe(2e-6);
    expect(config.training_settings.batch_size).toBe(2);
    expect(config.training_settings.num_generations).toBe(4);
    expect(config.model_settings.device).toBe('cpu');
  });

  it('accepts an object instead of a file, and starting from bare defaults', async () => {
    const config = await resolveTrainerConfig({ defaultConfigFile: null, config: { diffusion_settings: { steps: 8 } } });
    expect(config.diffusion_settings.steps).toBe(8);
    expect(config.training_settings.epsilon_high).toBeNull();
  });

  it('names the file and key path of an unknown key, with a hint', async () => {
    const user = await configFile('typo.json', JSON.stringify({ training_settings: { learnin_rate: 1e-6 } }));
    const error = await caught(resolveTrainerConfig({ config: user }));
    expect(error.code).toBe('TRAINER_CONFIG_INVALID');
    expect(error.source).toBe(user);
    expect(error.issues[0]!.path).toBe('training_settings.learnin_rate');
    expect(error.issues[0]!.message).toContain('did you mean "learning_rate"');
    expect(error.message).toContain(user);
  });

  it('reports wrong types and enum values with what was expected', async () => {
    const error = await caught(
      resolveTrainerConfig({ config: { training_settings: { batch_size: 'four' }, model_settings: { device: 'tpu' } } as never }),
    );
    const messages = Object.fromEntries(error.issues.map((issue) => [issue.path, issue.message]));
    expect(messages['training_settings.batch_size']).toBe('expected number, received string "four"');
    expect(messages['model_settings.device']).toBe('expected one of "auto" | "cpu" | "webgpu" | "cuda" | "coreml", received string "tpu"');
  });

  it('attributes CLI mistakes to the CLI flags', async () => {
    const error = await caught(resolveTrainerConfig({ overrides: { 'training_settings.num_generations': 1 } }));
    expect(error.source).toBe('CLI flags');
    expect(error.issues[0]!.path).toBe('training_settings.num_generations');
    const unknownSection = await caught(resolveTrainerConfig({ overrides: { 'trainig_settings.seed': 1 } }));
    expect(unknownSection.issues[0]!.message).toContain('did you mean "training_settings"');
  });

  it('checks cross-field rules on the merged result', async () => {
    const error = await caught(resolveTrainerConfig({ overrides: { 'training_settings.epsilon_high': 0.1 } }));
    expect(error.source).toBe('merged configuration');
    expect(error.issues[0]!.path).toBe('training_settings.epsilon_high');
    // Judged across layers: epsilon from the file and epsilon_high from the CLI agree.
    const combined = await resolveTrainerConfig({ config: { training_settings: { epsilon: 0.05 } }, overrides: { 'training_settings.epsilon_high': 0.1 } });
    expect(combined.training_settings.epsilon_high).toBe(0.1);
    const words = await caught(resolveTrainerConfig({ overrides: { 'reward_settings.length_in_range.min_words': 80 } }));
    expect(words.issues[0]!.path).toBe('reward_settings.length_in_range.min_words');
  });

  it('names a missing file and the line of a JSON syntax error', async () => {
    const missing = await resolveTrainerConfig({ config: join(folder, 'missing.json') }).catch((reason: unknown) => reason);
    expect(TrainerError.isInstance(missing) && missing.code).toBe('TRAINER_CONFIG_NOT_FOUND');
    const broken = await configFile('broken.json', '{\n  "training_settings": {\n    "seed": 1,\n  }\n}');
    const error = await caught(readConfigFile(broken));
    expect(error.issues[0]!.path).toMatch(new RegExp(`^${broken.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:`));
    const notObject = await configFile('array.json', '[1, 2]');
    expect((await caught(readConfigFile(notObject))).issues[0]!.message).toBe('expected a JSON object, received array');
  });
});

describe('CLI helpers', () => {
  it('expands dotted keys and decodes values', () => {
    expect(expandDottedKeys({ 'a.b': 1, 'a.c': 2, d: { 'e.f': 3 } })).toEqual({ a: { b: 1, c: 2 }, d: { e: { f: 3 } } });
    expect(() => expandDottedKeys({ 'a..b': 1 })).toThrow(/empty segment/);
    expect(parseCliValue('2e-6')).toBe(2e-6);
    expect(parseCliValue('true')).toBe(true);
    expect(parseCliValue('null')).toBeNull();
    expect(parseCliValue('cpu')).toBe('cpu');
    expect(parseCliValue('[1,2]')).toEqual([1, 2]);
  });
});
