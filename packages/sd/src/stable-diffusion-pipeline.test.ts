import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StableDiffusionPipeline } from './stable-diffusion-pipeline.js';
import { loadSdReference, maxAbs, readF32, referenceCaseOptions, tinySdGoldenDir, tinySdModelDir } from './__fixtures__/golden.js';

const dir = tinySdGoldenDir;
const ref = loadSdReference();
const f32 = (name: string): Float32Array => readF32(dir, name);

describe('StableDiffusionPipeline on tiny-sd (fp32, CPU) vs diffusers', () => {
  let pipe: StableDiffusionPipeline;
  const latents = f32('ref_latents.f32');
  beforeAll(async () => {
    pipe = await StableDiffusionPipeline.fromPretrained(tinySdModelDir, { device: 'cpu' });
  });
  afterAll(async () => {
    await pipe.dispose();
  });

  it('loads the SD 1.x layout and reads the VAE factor from its config', () => {
    expect(pipe.architecture).toBe('sd');
    expect(pipe.vaeScaleFactor).toBe(2);
    expect(pipe.vaeScalingFactor).toBe(0.18215);
    expect(pipe.scheduler.className).toBe('PNDMScheduler');
  });

  it('prompt embeddings match to 1e-3 max abs', async () => {
    const emb = (await pipe.encodePrompt('a photo of a cat')).get('encoder_hidden_states')!;
    expect(emb.dims).toEqual([1, 77, 32]);
    expect(maxAbs(emb.data, f32('ref_prompt_embeds.f32'))).toBeLessThan(1e-3);
  });

  it('UNet output at t=999 matches', async () => {
    const emb = await pipe.encodePrompt('a photo of a cat');
    const out = await pipe.predict({ data: latents, dims: [1, 4, 32, 32] }, 999, emb);
    expect(maxAbs(out, f32('ref_unet_t999.f32'))).toBeLessThan(1e-3);
  });

  it('VAE decode of latents / 0.18215 matches', async () => {
    const scaled = latents.map((v) => v / 0.18215);
    const out = await pipe.vaeDecode(scaled, [1, 4, 32, 32]);
    expect(maxAbs(out, f32('ref_vae_decode.f32'))).toBeLessThan(1e-3);
  });

  for (const [i, c] of ref.cases.entries()) {
    it(`reference image ${i}: ${c.scheduler} ${c.timestep_spacing} ${c.steps} steps CFG ${c.guidance_scale}`, async () => {
      const [image] = await pipe.generateImages(['a photo of a cat'], referenceCaseOptions(c, latents));
      expect(image!.width).toBe(64);
      expect(image!.height).toBe(64);
      const diff = maxAbs(image!.float32!, f32(c.image.file));
      expect(diff).toBeLessThan(1e-3);
      expect(image!.quality.ok).toBe(true);
      expect(image!.data.length).toBe(64 * 64 * 3);
    });
  }
});
