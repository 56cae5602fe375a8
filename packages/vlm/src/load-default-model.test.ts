import { defaultModelPath } from '@vlm-grpo/models';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { useTestBackend } from './__fixtures__/test-utils.js';
import { VlmError } from './errors.js';
import { defaultPolicyModelPath, type ModelsImporter } from './load-default-model.js';
import { VLMWrapper } from './vlm-wrapper.js';

describe('VLMWrapper.fromPretrained() without an id', () => {
  let byDefault: VLMWrapper;
  let explicit: VLMWrapper;
  beforeAll(async () => {
    await useTestBackend();
    byDefault = await VLMWrapper.fromPretrained(undefined, { backend: null });
    explicit = await VLMWrapper.fromPretrained(defaultModelPath('policy'), { backend: null });
  });
  afterAll(() => {
    byDefault?.dispose();
    explicit?.dispose();
  });

  it('takes no arguments at all (types)', () => {
    expectTypeOf(VLMWrapper.fromPretrained).toBeCallableWith();
    expectTypeOf(VLMWrapper.fromPretrained).toBeCallableWith('some/id', { backend: null });
  });

  it("loads @vlm-grpo/models' default policy model: same folder, config and output as loading that folder", async () => {
    expect(byDefault.model.sourceDir).toBe(defaultModelPath('policy'));
    expect(byDefault.model.config).toEqual(explicit.model.config);
    expect(byDefault.completionPrefix).toBe(explicit.completionPrefix);
    const options = { maxNewTokens: 8, fallback: 'none' } as const;
    const [a] = await byDefault.enhancePromptsDetailed(['a cat on a windowsill'], options);
    const [b] = await explicit.enhancePromptsDetailed(['a cat on a windowsill'], options);
    expect(a!.raw).toBe(b!.raw);
    expect(a!.raw.length).toBeGreaterThan(0);
  });
});

describe('defaultPolicyModelPath (the no-id path)', () => {
  it('is the folder @vlm-grpo/models names for the policy role', async () => {
    expect(await defaultPolicyModelPath('test')).toBe(defaultModelPath('policy'));
  });

  it('names the call, the missing id and the install command when @vlm-grpo/models is not installed', async () => {
    const notInstalled: ModelsImporter = () => import('@vlm-grpo/models-not-installed' as string);
    const error = await defaultPolicyModelPath('VLMWrapper.fromPretrained()', notInstalled).catch((e: unknown) => e);
    expect(VlmError.isInstance(error)).toBe(true);
    const vlmError = error as VlmError;
    expect(vlmError.code).toBe('VLM_DEFAULT_MODEL_UNAVAILABLE');
    expect(vlmError.message).toContain('VLMWrapper.fromPretrained() was called without a model id');
    expect(vlmError.message).toContain('npm install @vlm-grpo/models');
    expect(vlmError.message).toMatch(/pass a Hugging Face id or a model folder/u);
    expect(vlmError.message).toContain('models-not-installed'); // the import's own error is quoted
    expect(vlmError.cause).toBeInstanceOf(Error);
  });

  it('wraps a models package that cannot give the default model', async () => {
    const broken: ModelsImporter = async () => ({
      defaultModelPath: () => {
        throw new Error('model prompt-enhancer not found (looked in /x)');
      },
    });
    await expect(defaultPolicyModelPath('VLMWrapper.fromPretrained()', broken)).rejects.toMatchObject({
      code: 'VLM_DEFAULT_MODEL_UNAVAILABLE',
      message: expect.stringMatching(/without a model id.*not found \(looked in \/x\).*Reinstall @vlm-grpo\/models/su),
    });
  });
});
