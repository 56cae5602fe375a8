import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StableDiffusionPipeline } from './index.js';
import { DiffusionPipeline, guidanceScaleEmbedding } from './index.js';
import { readF32, tinySdModelDir } from './__fixtures__/golden.js';

const fixtures = new URL('./__fixtures__/', import.meta.url).pathname;
const f32 = (name: string): Float32Array => readF32(join(fixtures, 'tiny-sd3') + '/', name);

/**
 * An SDXL-shaped folder: tiny-sd3's two CLIP encoders (with hidden_states.N and text_embeds) and
 * tokenizers, tiny-sd's UNet/VAE. SDXL's `encoder_hidden_states` = concat(penultimate states) is
 * then exactly the first 77 rows of the SD3 reference embeddings (CLIP widths 32 + 32 = the joint
 * width 64, so no padding), and `text_embeds` = the second encoder's half of the SD3 pooled
 * reference: a golden check of the SDXL prompt path.
 */
describe('SDXL prompt encoding (golden via the SD3 reference)', () => {
  let dir: string;
  let pipe: StableDiffusionPipeline;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sd-xl-'));
    for (const f of ['text_encoder', 'text_encoder_2', 'tokenizer', 'tokenizer_2']) {
      cpSync(join(fixtures, 'tiny-sd3', f), join(dir, f), { recursive: true });
    }
    for (const f of ['unet', 'vae_decoder', 'scheduler']) cpSync(join(tinySdModelDir, f), join(dir, f), { recursive: true });
    writeFileSync(join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionXLPipeline', force_zeros_for_empty_prompt: true }));
    pipe = (await DiffusionPipeline.fromPretrained(dir, { memoryEfficient: true })) as StableDiffusionPipeline;
  });
  afterAll(async () => {
    await pipe.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is loaded as SDXL with two tokenizers and SDXL defaults', () => {
    expect(pipe.architecture).toBe('sdxl');
    expect(pipe.tokenizers).toHaveLength(2);
  });

  it('encoder_hidden_states and text_embeds match the reference to 1e-3', async () => {
    const e = await pipe.encodePrompt('a photo of a cat');
    const hs = e.get('encoder_hidden_states')!;
    const pooled = e.get('text_embeds')!;
    expect(hs.dims).toEqual([1, 77, 64]);
    expect(pooled.dims).toEqual([1, 32]);
    const refEmb = f32('ref_prompt_embeds.f32').subarray(0, 77 * 64);
    const refPooled = f32('ref_pooled_prompt_embeds.f32').subarray(32, 64);
    let m = 0;
    for (let i = 0; i < refEmb.length; i++) m = Math.max(m, Math.abs(hs.data[i]! - refEmb[i]!));
    for (let i = 0; i < 32; i++) m = Math.max(m, Math.abs(pooled.data[i]! - refPooled[i]!));
    expect(m).toBeLessThan(1e-3);
  });
});

describe('LCM guidance embedding', () => {
  it('is sin ‖ cos of w·1000·10000^(−i/(d/2−1)) with w = guidance − 1', () => {
    const e = guidanceScaleEmbedding(6.5, 4);
    expect(e[0]).toBeCloseTo(Math.sin(6500), 4);
    expect(e[1]).toBeCloseTo(Math.sin(0.65), 6);
    expect(e[2]).toBeCloseTo(Math.cos(6500), 4);
    expect(e[3]).toBeCloseTo(Math.cos(0.65), 6);
    expect(guidanceScaleEmbedding(1, 5)[4]).toBe(0);
  });
});
