import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parsePreprocessorConfig, preprocessImage, resizeOutputSize } from './clip-preprocess.js';
import { decodeImage } from './image-input.js';
import { ClipRewardError } from './errors.js';

const fixture = fileURLToPath(new URL('./__fixtures__/tiny-clip/', import.meta.url));
/** The tiny CLIP model: the repository's embedded copy (identical files; see __fixtures__/README.md). */
const modelDir = fileURLToPath(new URL('../../../data/models/tiny-clip/', import.meta.url));
const reference = JSON.parse(readFileSync(`${fixture}reference.json`, 'utf8')) as { images: string[] };
const refBytes = readFileSync(`${fixture}ref_pixel_values.f32`);
const refPixels = new Float32Array(refBytes.buffer.slice(refBytes.byteOffset, refBytes.byteOffset + refBytes.byteLength));
const config = parsePreprocessorConfig(JSON.parse(readFileSync(`${modelDir}preprocessor_config.json`, 'utf8')));

describe('CLIP preprocessing', () => {
  it('reads preprocessor_config.json', () => {
    expect(config).toEqual({
      resize: { shortestEdge: 32 },
      resample: 3,
      flavour: 'torch',
      crop: { height: 32, width: 32 },
      rescaleFactor: 1 / 255,
      mean: [0.48145466, 0.4578275, 0.40821073],
      std: [0.26862954, 0.26130258, 0.27577711],
    });
  });

  it('computes the resize size as HF get_resize_output_image_size does', () => {
    expect(resizeOutputSize(64, 48, config)).toEqual({ width: 42, height: 32 });
    expect(resizeOutputSize(100, 30, config)).toEqual({ width: 106, height: 32 });
    expect(resizeOutputSize(30, 100, config)).toEqual({ width: 32, height: 106 });
    expect(resizeOutputSize(40, 40, config)).toEqual({ width: 32, height: 32 });
  });

  it('matches the Python CLIPImageProcessor pixel_values of the reference PNGs', async () => {
    const per = 3 * 32 * 32;
    let maxDiff = 0;
    for (const [i, name] of reference.images.entries()) {
      const pixels = preprocessImage(await decodeImage(`${fixture}${name}`), config);
      for (let j = 0; j < per; j++) maxDiff = Math.max(maxDiff, Math.abs(pixels[j]! - refPixels[i * per + j]!));
    }
    // Documented tolerance: float32 rounding only (measured 4.8e-7).
    expect(maxDiff).toBeLessThan(1e-6);
  });

  it('pil flavour (HF slow processor) differs by at most one 8-bit level', async () => {
    const pil = { ...config, flavour: 'pil' as const };
    const per = 3 * 32 * 32;
    const worst: number[] = [];
    for (const [i, name] of reference.images.entries()) {
      const pixels = preprocessImage(await decodeImage(`${fixture}${name}`), pil);
      let maxDiff = 0;
      for (let j = 0; j < per; j++) maxDiff = Math.max(maxDiff, Math.abs(pixels[j]! - refPixels[i * per + j]!));
      worst.push(maxDiff);
    }
    // Images 0 and 1 agree to float rounding; the 100×30 one has a few pixels one level (1/255/std) off.
    expect(worst[0]).toBeLessThan(1e-6);
    expect(worst[1]).toBeLessThan(1e-6);
    expect(worst[2]).toBeGreaterThan(1e-3);
    expect(worst[2]).toBeLessThan(1 / 255 / 0.2613 + 1e-4);
  });

  it('rejects a malformed config naming the key', () => {
    expect(() => parsePreprocessorConfig({ image_mean: [0.5] })).toThrow(/image_mean/);
    try {
      parsePreprocessorConfig({ resample: 9 });
    } catch (error) {
      expect(ClipRewardError.isInstance(error) && error.code).toBe('CLIP_INVALID_CONFIG');
    }
  });
});
