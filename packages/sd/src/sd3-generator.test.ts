import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SD3Generator } from './sd3-generator.js';
import { maxAbs, readF32 } from './__fixtures__/golden.js';

const dir = new URL('./__fixtures__/tiny-sd3/', import.meta.url).pathname;
interface Case {
  prompt: string;
  negative_prompt: string | null;
  steps: number;
  guidance_scale: number;
  shift: number;
  image: { file: string };
}
const ref = JSON.parse(readFileSync(`${dir}reference.json`, 'utf8')) as { cases: Case[] };
const f32 = (name: string): Float32Array => readF32(dir, name);

describe('SD3Generator on tiny-sd3 (fp32, CPU) vs diffusers', () => {
  let gen: SD3Generator;
  beforeAll(async () => {
    gen = await SD3Generator.fromPretrained(dir);
  });
  afterAll(async () => {
    await gen.dispose();
  });

  it('reads the SD3 layout: flow matching, VAE scaling and shift, no T5', () => {
    expect(gen.scheduler.className).toBe('FlowMatchEulerDiscreteScheduler');
    expect(gen.vaeScalingFactor).toBe(1.5035);
    expect(gen.vaeShiftFactor).toBe(0.0609);
    expect(gen.vaeScaleFactor).toBe(1);
    expect(gen.jointAttentionDim).toBe(64);
  });

  it('prompt embeddings (CLIP penultimate ‖ zero T5) and pooled projections match to 1e-3', async () => {
    const e = await gen.encodePrompt('a photo of a cat');
    const embeds = e.get('encoder_hidden_states')!;
    const pooled = e.get('pooled_projections')!;
    expect(embeds.dims).toEqual([1, 333, 64]);
    expect(pooled.dims).toEqual([1, 64]);
    expect(maxAbs(embeds.data, f32('ref_prompt_embeds.f32'))).toBeLessThan(1e-3);
    expect(maxAbs(pooled.data, f32('ref_pooled_prompt_embeds.f32'))).toBeLessThan(1e-3);
  });

  for (const [i, c] of ref.cases.entries()) {
    it(`reference image ${i}: ${c.steps} steps CFG ${c.guidance_scale}`, async () => {
      const image = await gen.generateImage(c.prompt, {
        steps: c.steps,
        guidanceScale: c.guidance_scale,
        ...(c.negative_prompt !== null ? { negativePrompt: c.negative_prompt } : {}),
        latents: f32('ref_latents.f32'),
        outputType: 'float32',
      });
      expect([image.width, image.height]).toEqual([32, 32]);
      expect(maxAbs(image.float32!, f32(c.image.file))).toBeLessThan(1e-3);
    });
  }
});
