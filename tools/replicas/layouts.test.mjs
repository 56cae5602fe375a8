/**
 * The real models' layouts load through the public APIs (CPU): tiny replicas made by
 * tools/replicas/make-replicas.py --size tiny (transformers / diffusers export code, the same as
 * the real-size replicas; see tools/replicas/README.md) in tools/replicas/fixtures/:
 * - SmolLM2-135M-Instruct's (Llama, GQA 3:1, tied bf16 embeddings, rope θ 1e5, ChatML with its 17
 *   special tokens) and DialoGPT-medium's (GPT-2, no chat template, eos = last id): the chat
 *   template renders as transformers' `apply_chat_template`, prompt ids equal transformers', the
 *   float32 logits of the last 16 positions equal transformers' ≤ 1e-4 and greedy tokens are identical;
 * - onnxruntime/sd-turbo's (float16 weights and I/O, int32 ids, Euler trailing, tokenizer.json) and
 *   Optimum's SD 1.5 (float32, UNet weights in model.onnx_data, vocab.json + merges.txt, PNDM):
 *   one image each at the configuration's recipe, finite, in [0, 255], with the diffusion and
 *   tokenizer files the real repositories have; a prompt longer than CLIP's 77 tokens is cut;
 * - Xenova/clip-vit-base-patch32's (split text/vision models and the combined model.onnx).
 * Needs the packages built (`tools:test` depends on their `build`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));
const read = (path) => JSON.parse(readFileSync(path, 'utf8'));

function maxAbsDiff(a, b) {
  let largest = 0;
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i] - b[i]));
  return largest;
}

describe.each([
  ['smollm2-135m-instruct', 'chat', 'Llama'],
  ['dialogpt-medium', 'plain', 'GPT-2'],
])('%s layout (%s prompts, %s)', (name, format) => {
  const dir = join(FIXTURES, name);
  const reference = read(join(dir, 'reference.json'));

  it('renders prompts and ids as transformers does', async () => {
    const { VLMWrapper } = await import('@vlm-grpo/vlm');
    const policy = await VLMWrapper.fromPretrained(dir, { systemPrompt: '' });
    try {
      expect(policy.promptFormat).toBe(format);
      const prompts = ['a cat', 'city skyline at night, Café 東京'];
      for (let i = 0; i < prompts.length; i++) {
        expect(await policy.formatPrompt(prompts[i])).toBe(reference.texts[i]);
        expect(await policy.encodePrompt(prompts[i])).toEqual(reference.input_ids[i]);
      }
    } finally {
      policy.dispose();
    }
  });

  it('gives transformers’ float32 logits (≤ 1e-4) and greedy tokens', async () => {
    const { CausalLM } = await import('@vlm-grpo/vlm');
    const model = await CausalLM.fromPretrained(dir);
    try {
      const golden = new Float32Array(readFileSync(join(dir, 'ref_logits.f32')).buffer.slice(0));
      let offset = 0;
      for (let i = 0; i < reference.input_ids.length; i++) {
        const ids = reference.input_ids[i];
        const [positions, vocab] = reference.logits_shapes[i];
        const logits = model.forward([ids]);
        const all = await logits.data();
        logits.dispose();
        const got = all.subarray(all.length - positions * vocab);
        expect(maxAbsDiff(got, golden.subarray(offset, offset + positions * vocab))).toBeLessThan(1e-4);
        offset += positions * vocab;
        const generated = await model.generate([ids], { maxNewTokens: reference.greedy_new_tokens[i].length, temperature: 0 });
        expect(generated.sequences[0].slice(ids.length)).toEqual(reference.greedy_new_tokens[i]);
      }
    } finally {
      model.dispose();
    }
  });
});

describe('diffusion layouts', () => {
  const longPrompt = Array.from({ length: 120 }, (_, i) => `word${i}`).join(' ');

  it.each([
    ['sd-turbo', { steps: 1, guidanceScale: 0 }, 'float16', 'EulerDiscreteScheduler'],
    ['stable-diffusion-v1-5-onnx', { steps: 2, guidanceScale: 7.5 }, 'float32', 'PNDMScheduler'],
  ])('%s renders through the public API', async (name, recipe, dtype, scheduler) => {
    const dir = join(FIXTURES, name);
    expect(read(join(dir, 'scheduler', 'scheduler_config.json'))._class_name).toBe(scheduler);
    if (name === 'stable-diffusion-v1-5-onnx') {
      expect(existsSync(join(dir, 'unet', 'model.onnx_data'))).toBe(true);
      expect(existsSync(join(dir, 'tokenizer', 'tokenizer.json'))).toBe(false);
    }
    const { StableDiffusionPipeline } = await import('@vlm-grpo/sd');
    const pipe = await StableDiffusionPipeline.fromPretrained(dir);
    try {
      const ort = await import('onnxruntime-node');
      const unet = await ort.InferenceSession.create(join(dir, 'unet', 'model.onnx'));
      expect(unet.inputMetadata.find((input) => input.name === 'sample').type).toBe(dtype);
      await unet.release();
      const images = await pipe.generateImages(['a photo of a cat', longPrompt], { ...recipe, height: 64, width: 64, seed: 3, outputType: 'float32' });
      expect(images).toHaveLength(2);
      for (const image of images) {
        expect([image.width, image.height]).toEqual([64, 64]);
        expect(image.float32.every((v) => Number.isFinite(v) && v >= 0 && v <= 1)).toBe(true);
      }
    } finally {
      await pipe.dispose();
    }
  }, 120_000);
});

describe('Xenova/clip-vit-base-patch32 layout', () => {
  it('scores images against texts with the split models and with the combined one', async () => {
    const dir = join(FIXTURES, 'clip-vit-base-patch32');
    for (const file of ['model.onnx', 'text_model.onnx', 'vision_model.onnx']) expect(existsSync(join(dir, 'onnx', file))).toBe(true);
    const { CLIPRewardCalculator } = await import('@vlm-grpo/clip-reward');
    const image = { width: 32, height: 32, channels: 3, data: new Uint8Array(32 * 32 * 3).map((_, i) => (i * 37) % 256) };
    const embeddings = {};
    for (const layout of ['split', 'combined']) {
      const calc = await CLIPRewardCalculator.fromPretrained(dir, { layout });
      try {
        const [text] = await calc.embedTexts([`a cat ${Array.from({ length: 100 }, () => 'very').join(' ')}`]);
        expect(text.length).toBe(read(join(dir, 'config.json')).projection_dim);
        const [imageEmbedding] = await calc.embedImages([image]);
        embeddings[layout] = [...text, ...imageEmbedding];
        expect(Number.isFinite(await calc.calculateReward(image, 'a cat'))).toBe(true);
      } finally {
        await calc.dispose();
      }
    }
    // the two exports of one model agree
    expect(maxAbsDiff(embeddings.split, embeddings.combined)).toBeLessThan(1e-4);
  }, 60_000);
});
