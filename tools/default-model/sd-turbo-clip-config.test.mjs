// config/sd-turbo-clip.json (real hub models for users with a network and a GPU) must validate
// against the trainer's schema, on its own and as a layer over config/default_config.json, and
// must keep the SD-Turbo recipe (one step, no guidance, 512×512) and hub access.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ConfigValidationError, resolveTrainerConfig } from '@vlm-grpo/trainer';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const file = join(root, 'config', 'sd-turbo-clip.json');

describe('config/sd-turbo-clip.json', () => {
  it('validates on its own (schema defaults underneath) with the hub models and the SD-Turbo recipe', async () => {
    const config = await resolveTrainerConfig({ defaultConfigFile: null, config: file });
    expect(config.model_settings).toMatchObject({
      vlm_model: 'HuggingFaceTB/SmolLM2-135M-Instruct',
      sd_model: 'onnxruntime/sd-turbo',
      clip_model: 'Xenova/clip-vit-base-patch32',
      device: 'auto',
      local_files_only: false,
    });
    expect(config.diffusion_settings).toMatchObject({ steps: 1, guidance_scale: 0, height: 512, width: 512 });
    // A chat model: the template comes from the model's tokenizer.
    expect(config.generation_settings.prompt_template).toBeNull();
  });

  it('validates as a layer over config/default_config.json and replaces every model of the default run', async () => {
    const layered = await resolveTrainerConfig({ config: file });
    const alone = await resolveTrainerConfig({ defaultConfigFile: null, config: file });
    // Every key the default file sets is also set here, so the layering changes nothing.
    expect(layered).toEqual(alone);
    const defaults = JSON.parse(readFileSync(join(root, 'config', 'default_config.json'), 'utf8'));
    for (const key of ['vlm_model', 'sd_model', 'clip_model']) expect(layered.model_settings[key]).not.toBe(defaults.model_settings[key]);
  });

  it('is rejected by the schema when a key is misspelt (the check can fail)', async () => {
    const raw = JSON.parse(readFileSync(file, 'utf8'));
    raw.diffusion_settings.guidance = 0;
    await expect(resolveTrainerConfig({ defaultConfigFile: null, config: raw })).rejects.toBeInstanceOf(ConfigValidationError);
  });
});
