import { defaultModelPath } from '@vlm-grpo/models';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { DiffusionPipeline } from './diffusion-pipeline.js';
import { SdError } from './errors.js';
import { defaultDiffusionModelPath, type ModelsImporter } from './load-default-model.js';
import type { AnyDiffusionPipeline } from './diffusion-pipeline.js';
import { StableDiffusionPipeline } from './stable-diffusion-pipeline.js';

describe('fromPretrained() without an id', () => {
  const pipes: AnyDiffusionPipeline[] = [];
  const quick = { steps: 2, guidanceScale: 7.5, scheduler: 'ddim', seed: 5 } as const;
  let explicit: AnyDiffusionPipeline;
  beforeAll(async () => {
    explicit = await DiffusionPipeline.fromPretrained(defaultModelPath('diffusion'), { device: 'cpu' });
    pipes.push(explicit);
  });
  afterAll(async () => {
    for (const pipe of pipes) await pipe.dispose();
  });

  it('takes no arguments at all (types)', () => {
    expectTypeOf(DiffusionPipeline.fromPretrained).toBeCallableWith();
    expectTypeOf(StableDiffusionPipeline.fromPretrained).toBeCallableWith();
    expectTypeOf(DiffusionPipeline.fromPretrained).toBeCallableWith('some/id', { device: 'cpu' });
  });

  it("DiffusionPipeline and StableDiffusionPipeline load @vlm-grpo/models' default diffusion model: same folder and image as loading that folder", async () => {
    const reference = await explicit.generateImage('a cat', quick);
    for (const load of [() => DiffusionPipeline.fromPretrained(undefined, { device: 'cpu' }), () => StableDiffusionPipeline.fromPretrained(undefined, { device: 'cpu' })]) {
      const pipe = await load();
      pipes.push(pipe);
      expect(pipe).toBeInstanceOf(StableDiffusionPipeline);
      expect(pipe.repo.root).toBe(explicit.repo.root);
      expect(pipe.repo.root).toBe(defaultModelPath('diffusion'));
      const image = await pipe.generateImage('a cat', quick);
      expect([image.width, image.height]).toEqual([reference.width, reference.height]);
      expect(image.data).toEqual(reference.data);
    }
  });
});

describe('defaultDiffusionModelPath (the no-id path)', () => {
  it('is the folder @vlm-grpo/models names for the diffusion role', async () => {
    expect(await defaultDiffusionModelPath('test')).toBe(defaultModelPath('diffusion'));
  });

  it('names the call, the missing id and the install command when @vlm-grpo/models is not installed', async () => {
    const notInstalled: ModelsImporter = () => import('@vlm-grpo/models-not-installed' as string);
    const error = await defaultDiffusionModelPath('DiffusionPipeline.fromPretrained()', notInstalled).catch((e: unknown) => e);
    expect(SdError.isInstance(error)).toBe(true);
    const sdError = error as SdError;
    expect(sdError.code).toBe('SD_DEFAULT_MODEL_UNAVAILABLE');
    expect(sdError.message).toContain('DiffusionPipeline.fromPretrained() was called without a model id');
    expect(sdError.message).toContain('npm install @vlm-grpo/models');
    expect(sdError.message).toMatch(/pass a Hugging Face id or a model folder/u);
    expect(sdError.message).toContain('models-not-installed'); // the import's own error is quoted
    expect(sdError.cause).toBeInstanceOf(Error);
  });

  it('wraps a models package that cannot give the default model', async () => {
    const broken: ModelsImporter = async () => ({
      defaultModelPath: () => {
        throw new Error('model tiny-sd not found (looked in /x)');
      },
    });
    await expect(defaultDiffusionModelPath('DiffusionPipeline.fromPretrained()', broken)).rejects.toMatchObject({
      code: 'SD_DEFAULT_MODEL_UNAVAILABLE',
      message: expect.stringMatching(/without a model id.*not found \(looked in \/x\).*Reinstall @vlm-grpo\/models/su),
    });
  });
});
