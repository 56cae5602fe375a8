import { defaultModelPath } from '@vlm-grpo/models';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { CLIPRewardCalculator } from './clip-reward-calculator.js';
import { ClipRewardError } from './errors.js';
import { defaultClipModelPath, type ModelsImporter } from './load-default-model.js';

const quiet = (): void => {};

describe('CLIPRewardCalculator.fromPretrained() without an id', () => {
  let byDefault: CLIPRewardCalculator;
  let explicit: CLIPRewardCalculator;
  beforeAll(async () => {
    byDefault = await CLIPRewardCalculator.fromPretrained(undefined, { device: 'cpu', logger: quiet });
    explicit = await CLIPRewardCalculator.fromPretrained(defaultModelPath('clip'), { device: 'cpu', logger: quiet });
  });
  afterAll(async () => {
    await byDefault?.dispose();
    await explicit?.dispose();
  });

  it('takes no arguments at all (types); an empty id is still an error', async () => {
    expectTypeOf(CLIPRewardCalculator.fromPretrained).toBeCallableWith();
    expectTypeOf(CLIPRewardCalculator.fromPretrained).toBeCallableWith('some/id', { device: 'cpu' });
    await expect(CLIPRewardCalculator.fromPretrained('  ')).rejects.toMatchObject({ code: 'CLIP_INVALID_ARGUMENT' });
  });

  it("loads @vlm-grpo/models' default CLIP model: same folder and embeddings as loading that folder", async () => {
    expect(byDefault.source).toBe(defaultModelPath('clip'));
    expect(byDefault.source).toBe(explicit.source);
    expect(byDefault.layout).toBe(explicit.layout);
    expect(byDefault.logitScale).toBe(explicit.logitScale);
    const texts = ['a photo of a cat', 'a red car at night'];
    const [a, b] = [await byDefault.embedTexts(texts), await explicit.embedTexts(texts)];
    expect(a.map((e) => [...e])).toEqual(b.map((e) => [...e]));
    const gradient = { data: Uint8Array.from({ length: 32 * 32 * 3 }, (_, i) => (i * 7) % 256), width: 32, height: 32 };
    expect((await byDefault.embedImages([gradient])).map((e) => [...e])).toEqual((await explicit.embedImages([gradient])).map((e) => [...e]));
  });
});

describe('defaultClipModelPath (the no-id path)', () => {
  it('is the folder @vlm-grpo/models names for the clip role', async () => {
    expect(await defaultClipModelPath('test')).toBe(defaultModelPath('clip'));
  });

  it('names the call, the missing id and the install command when @vlm-grpo/models is not installed', async () => {
    const notInstalled: ModelsImporter = () => import('@vlm-grpo/models-not-installed' as string);
    const error = await defaultClipModelPath('CLIPRewardCalculator.fromPretrained()', notInstalled).catch((e: unknown) => e);
    expect(ClipRewardError.isInstance(error)).toBe(true);
    const clipError = error as ClipRewardError;
    expect(clipError.code).toBe('CLIP_DEFAULT_MODEL_UNAVAILABLE');
    expect(clipError.message).toContain('CLIPRewardCalculator.fromPretrained() was called without a model id');
    expect(clipError.message).toContain('npm install @vlm-grpo/models');
    expect(clipError.message).toMatch(/pass a Hugging Face id or a model folder/u);
    expect(clipError.message).toContain('models-not-installed'); // the import's own error is quoted
    expect(clipError.cause).toBeInstanceOf(Error);
  });

  it('wraps a models package that cannot give the default model', async () => {
    const broken: ModelsImporter = async () => ({
      defaultModelPath: () => {
        throw new Error('model tiny-clip not found (looked in /x)');
      },
    });
    await expect(defaultClipModelPath('CLIPRewardCalculator.fromPretrained()', broken)).rejects.toMatchObject({
      code: 'CLIP_DEFAULT_MODEL_UNAVAILABLE',
      message: expect.stringMatching(/without a model id.*not found \(looked in \/x\).*Reinstall @vlm-grpo\/models/su),
    });
  });
});
