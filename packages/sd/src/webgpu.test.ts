/**
 * The WebGPU execution provider of onnxruntime-node against diffusers' reference outputs for the
 * tiny SD 1.x model (the same values as the CPU golden tests, to 1e-3). Skipped where no WebGPU
 * adapter initialises, except in CI (`CI` set), where .ci/run installs Mesa's lavapipe and a
 * missing adapter fails the file; for speed, run on a GPU machine with tools/device (see
 * BENCHMARKS.md).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StableDiffusionPipeline } from './stable-diffusion-pipeline.js';
import { loadSdReference, maxAbs, readF32, referenceCaseOptions, tinySdGoldenDir, tinySdModelDir } from './__fixtures__/golden.js';

const webgpu = await StableDiffusionPipeline.fromPretrained(tinySdModelDir, { device: 'webgpu', fallbackToCpu: false, logger: () => {} }).then(
  async (pipe) => {
    await pipe.dispose();
    return { ok: true, reason: '' };
  },
  (error: unknown) => ({ ok: false, reason: (error as Error).message }),
);

// CI installs Mesa's lavapipe (.ci/run): there a missing adapter fails this file instead of skipping it.
it.runIf(!webgpu.ok && Boolean(process.env.CI))('a WebGPU adapter initialises (required in CI: .ci/run installs lavapipe, VK_DRIVER_FILES)', () => {
  throw new Error(`no WebGPU adapter although CI is set: ${webgpu.reason}`);
});

const ref = loadSdReference();
const f32 = (name: string): Float32Array => readF32(tinySdGoldenDir, name);

describe.skipIf(!webgpu.ok)('StableDiffusionPipeline on WebGPU vs diffusers (tiny SD 1.x)', () => {
  let pipe: StableDiffusionPipeline;
  const latents = f32('ref_latents.f32');
  beforeAll(async () => {
    pipe = await StableDiffusionPipeline.fromPretrained(tinySdModelDir, { device: 'webgpu', fallbackToCpu: false });
  });
  afterAll(async () => {
    await pipe?.dispose();
  });

  it('UNet output at t=999 matches to 1e-3', async () => {
    const emb = await pipe.encodePrompt('a photo of a cat');
    const out = await pipe.predict({ data: latents, dims: [1, 4, 32, 32] }, 999, emb);
    expect(maxAbs(out, f32('ref_unet_t999.f32'))).toBeLessThan(1e-3);
  });

  for (const [i, c] of ref.cases.slice(0, 3).entries()) {
    it(`reference image ${i}: ${c.scheduler} ${c.steps} steps CFG ${c.guidance_scale} matches to 1e-3`, async () => {
      const [image] = await pipe.generateImages(['a photo of a cat'], referenceCaseOptions(c, latents));
      expect(maxAbs(image!.float32!, f32(c.image.file))).toBeLessThan(1e-3);
    });
  }

  it('GPU-resident conditioning (uploaded once) gives the same image as host conditioning', async () => {
    const warnings: string[] = [];
    const resident = await StableDiffusionPipeline.fromPretrained(tinySdModelDir, {
      device: 'webgpu',
      fallbackToCpu: false,
      logger: (level, message) => {
        if (level === 'warn') warnings.push(message);
      },
    });
    const host = await StableDiffusionPipeline.fromPretrained(tinySdModelDir, { device: 'webgpu', fallbackToCpu: false, gpuResidentConditioning: false });
    const options = { steps: 3, guidanceScale: 7.5, latents, outputType: 'float32' as const };
    const [a] = await resident.generateImages(['a photo of a cat'], options);
    const [b] = await host.generateImages(['a photo of a cat'], options);
    expect(warnings.filter((m) => m.includes('conditioning stays on the host'))).toEqual([]);
    expect(maxAbs(a!.float32!, b!.float32!)).toBeLessThan(1e-6);
    await Promise.all([resident.dispose(), host.dispose()]);
  });
});
