// config/default_config.json (the default run, in the world of issue 16) must validate against the
// trainer's schema and point at the world's prompt files, models and aesthetic head, with the
// sampler the world's model card recommends.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { resolveTrainerConfig } from '@vlm-grpo/trainer';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const file = join(root, 'config', 'default_config.json');

describe('config/default_config.json (the world)', () => {
  it('validates, trains in the world, with relevance to the original prompt and aesthetics weighted', async () => {
    const config = await resolveTrainerConfig({ config: file });
    expect(config.model_settings).toMatchObject({ sd_model: 'data/models/world-sd', clip_model: 'data/models/world-clip', vlm_model: 'data/models/prompt-enhancer' });
    expect(config.data_settings).toMatchObject({ train_file: 'data/world/train_prompts.jsonl', val_file: 'data/world/val_prompts.jsonl' });
    expect(config.reward_settings.relevance_to_original.weight).toBeGreaterThan(0);
    expect(config.reward_settings.aesthetic.weight).toBeGreaterThan(0);
    expect(config.reward_settings.aesthetic.head_path).toBe('data/models/world-clip/aesthetic_head.safetensors');
    expect(config.reward_settings.similarity.weight).toBe(0);
    expect(config.diffusion_settings).toMatchObject({ height: 64, width: 64 });
    // the sampler is the one train-all.py recommended (cheapest that met the held-out target)
    const training = JSON.parse(readFileSync(join(root, 'data/models/world-sd/training.json'), 'utf8'));
    const recommended = training.eval?.recommended_sampler ?? training.recommended_sampler;
    expect(recommended).toBeDefined();
    expect(config.diffusion_settings).toMatchObject({ steps: recommended.steps, guidance_scale: recommended.guidance_scale });
    expect(config.validation_settings.num_prompts).toBe(0); // every held-out prompt
    expect(existsSync(join(root, config.model_settings.sd_model, 'unet/model.onnx'))).toBe(true);
    expect(existsSync(join(root, config.reward_settings.aesthetic.head_path))).toBe(true);
    for (const key of ['train_file', 'val_file']) expect(existsSync(join(root, config.data_settings[key]))).toBe(true);
  });

  it('is rejected when a key is misspelt (the check can fail)', async () => {
    const raw = JSON.parse(readFileSync(file, 'utf8'));
    raw.reward_settings.aesthetics = raw.reward_settings.aesthetic;
    const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'world-config-'));
    try {
      writeFileSync(join(dir, 'bad.json'), JSON.stringify(raw));
      await expect(resolveTrainerConfig({ config: join(dir, 'bad.json') })).rejects.toThrow(/aesthetics/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
