import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';

import { ConfigValidationError } from '../errors.js';
import { resolveTrainerConfig } from './load-config.js';
import { normalizeOriginalNames } from './original-names.js';

const ORIGINAL = fileURLToPath(new URL('./__fixtures__/original-default-config.json', import.meta.url));
const ORIGINAL_DESIGN = fileURLToPath(new URL('../../../../config/original_design.json', import.meta.url));

describe('the original design as written', () => {
  it('loads the original default_config.json verbatim (group_size = G)', async () => {
    // The original file alone, over the schema defaults, as the original design's own default file.
    const config = await resolveTrainerConfig({ defaultConfigFile: ORIGINAL });
    expect(config.model_settings).toMatchObject({ vlm_model: 'microsoft/DialoGPT-medium', sd_model: 'runwayml/stable-diffusion-v1-5', clip_model: 'openai/clip-vit-base-patch32', device: 'cuda' });
    expect(config.training_settings).toMatchObject({ learning_rate: 1e-5, num_generations: 4, num_iterations: 100, batch_size: 4 });
    expect('group_size' in config.training_settings).toBe(false);
    // And as a user file over the repository's defaults.
    const layered = await resolveTrainerConfig({ config: ORIGINAL });
    expect(layered.training_settings.num_generations).toBe(4);
    expect(JSON.parse(await readFile(ORIGINAL, 'utf8')).training_settings.group_size).toBe(4);
  });

  it('config/original_design.json reproduces the original defaults', async () => {
    const config = await resolveTrainerConfig({ config: ORIGINAL_DESIGN });
    expect(config.model_settings).toMatchObject({ vlm_model: 'microsoft/DialoGPT-medium', sd_model: 'runwayml/stable-diffusion-v1-5', clip_model: 'openai/clip-vit-base-patch32', local_files_only: false });
    expect(config.diffusion_settings).toMatchObject({ steps: 50, guidance_scale: 7.5, height: 512, width: 512 });
    expect(config.training_settings.num_generations).toBe(4);
    expect(config.reward_settings.safety).toMatchObject({ weight: 1, threshold: 0.5 });
  });

  it('accepts group_size in every layer; a layer giving both names differently is an error naming both', async () => {
    const fromFlag = await resolveTrainerConfig({ overrides: { 'training_settings.group_size': 8 } });
    expect(fromFlag.training_settings.num_generations).toBe(8);
    const fromObject = await resolveTrainerConfig({ config: { training_settings: { group_size: 3 } } });
    expect(fromObject.training_settings.num_generations).toBe(3);
    expect(normalizeOriginalNames({ training_settings: { group_size: 4, num_generations: 4 } }, 'x')).toEqual({ training_settings: { num_generations: 4 } });
    const error = await resolveTrainerConfig({ overrides: { 'training_settings.group_size': 8, 'training_settings.num_generations': 6 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigValidationError);
    expect((error as Error).message).toMatch(/CLI flags[\s\S]*training_settings\.group_size: is the original design's name of training_settings\.num_generations, which this layer also sets to a different value \(6 vs 8\)/u);
    // Validation applies to the value under either name.
    const invalid = await resolveTrainerConfig({ overrides: { 'training_settings.group_size': 1 } }).catch((e: unknown) => e);
    expect((invalid as Error).message).toMatch(/training_settings\.num_generations/u);
  });
});
