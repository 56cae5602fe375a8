/**
 * CLIP image preprocessing, as Hugging Face `CLIPImageProcessor` (the PIL-based "slow" processor)
 * does it, driven by `preprocessor_config.json`:
 *   1. convert to RGB (alpha over white; done by image-input.ts)
 *   2. resize so the shortest edge is `size.shortest_edge` and the long edge `int(S·long/short)`
 *      (`get_resize_output_image_size`, default_to_square=False), or to `size.{height,width}`,
 *      with Pillow's filter `resample` (3 = bicubic) in 8-bit (resample.ts)
 *   3. centre crop to `crop_size`: top = (H − h) // 2, left = (W − w) // 2; an image smaller than the
 *      crop is zero-padded around the centre, as HF `center_crop` does
 *   4. rescale by `rescale_factor` (1/255) and normalise `(x − mean) / std` per channel
 * Output: float32 `pixel_values` [3, crop_h, crop_w] (CHW), written into a caller's batch buffer.
 * Two flavours (see {@link ClipPreprocessConfig.flavour}): `torch` reproduces the "fast"
 * processor that transformers ≥ 5 uses by default (the golden reference pixels were made with it:
 * exact to float rounding), `pil` the Pillow-based "slow" one (differs by ±1/255 on a few pixels).
 */
import { z } from 'zod';
import { ClipRewardError } from './errors.js';
import type { RgbImage } from './image-input.js';
import { resizeImage, type ResampleFlavour } from './resample.js';

const sizeSchema = z.union([
  z.number().int().positive(),
  z.looseObject({ shortest_edge: z.number().int().positive() }),
  z.looseObject({ height: z.number().int().positive(), width: z.number().int().positive() }),
]);

const preprocessorSchema = z.looseObject({
  do_resize: z.boolean().default(true),
  size: sizeSchema.default({ shortest_edge: 224 }),
  resample: z.number().int().min(0).max(5).default(3),
  do_center_crop: z.boolean().default(true),
  crop_size: sizeSchema.default({ height: 224, width: 224 }),
  do_rescale: z.boolean().default(true),
  rescale_factor: z.number().positive().default(1 / 255),
  do_normalize: z.boolean().default(true),
  image_mean: z.array(z.number()).length(3).default([0.48145466, 0.4578275, 0.40821073]),
  image_std: z.array(z.number().positive()).length(3).default([0.26862954, 0.26130258, 0.27577711]),
  do_convert_rgb: z.boolean().default(true),
});

/** The preprocessing settings that matter, resolved from `preprocessor_config.json`. */
export interface ClipPreprocessConfig {
  /** Resize target (undefined = no resize). */
  resize?: { shortestEdge: number } | { height: number; width: number };
  /** Pillow filter id (default: 3, bicubic). */
  resample: number;
  /**
   * Arithmetic of the resize and crop: `torch` (HF "fast" processor, transformers ≥ 5 default:
   * torch uint8 resize, crop offset `round((H − h) / 2)`) or `pil` (HF "slow" processor: Pillow
   * resize, crop offset `(H − h) // 2`) (default: `torch`).
   */
  flavour: ResampleFlavour;
  /** Output height and width after the centre crop (or after resize when there is no crop). */
  crop?: { height: number; width: number };
  /** Rescale factor (undefined = none). */
  rescaleFactor?: number;
  /** Per-channel mean and std (undefined = no normalisation). */
  mean?: [number, number, number];
  std?: [number, number, number];
}

/** Parse a `preprocessor_config.json` object. `file` names it in errors. */
export function parsePreprocessorConfig(
  json: unknown,
  file = 'preprocessor_config.json',
  flavour: ResampleFlavour = 'torch',
): ClipPreprocessConfig {
  const parsed = preprocessorSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ClipRewardError('CLIP_INVALID_CONFIG', `${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const c = parsed.data;
  const size = c.size;
  const resize = !c.do_resize
    ? undefined
    : typeof size === 'number'
      ? { shortestEdge: size }
      : 'shortest_edge' in size
        ? { shortestEdge: size.shortest_edge as number }
        : { height: size.height as number, width: size.width as number };
  const cs = c.crop_size;
  const crop = !c.do_center_crop
    ? undefined
    : typeof cs === 'number'
      ? { height: cs, width: cs }
      : 'height' in cs
        ? { height: cs.height as number, width: cs.width as number }
        : { height: cs.shortest_edge as number, width: cs.shortest_edge as number };
  if (!crop && (!resize || 'shortestEdge' in resize)) {
    throw new ClipRewardError('CLIP_INVALID_CONFIG', `${file}: without a centre crop, size must give height and width so batches have one shape`);
  }
  return {
    resize,
    resample: c.resample,
    flavour,
    crop: crop ?? (resize as { height: number; width: number }),
    rescaleFactor: c.do_rescale ? c.rescale_factor : undefined,
    mean: c.do_normalize ? (c.image_mean as [number, number, number]) : undefined,
    std: c.do_normalize ? (c.image_std as [number, number, number]) : undefined,
  };
}

/** Output size of the resize step for an input of `width × height` (HF `get_resize_output_image_size`). */
export function resizeOutputSize(width: number, height: number, config: ClipPreprocessConfig): { width: number; height: number } {
  const r = config.resize;
  if (!r) return { width, height };
  if ('height' in r) return { width: r.width, height: r.height };
  const s = r.shortestEdge;
  if (width <= height) return { width: s, height: Math.trunc((s * height) / width) };
  return { width: Math.trunc((s * width) / height), height: s };
}

/** Python's round(): half to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Resize and centre-crop, returning 8-bit RGB (steps 2–3). */
export function resizeAndCrop(image: RgbImage, config: ClipPreprocessConfig): RgbImage {
  const size = resizeOutputSize(image.width, image.height, config);
  const resized = resizeImage(image.data, image.width, image.height, 3, size.width, size.height, config.resample, config.flavour);
  const crop = config.crop ?? size;
  if (crop.width === size.width && crop.height === size.height) return { data: resized, width: size.width, height: size.height };
  const out = new Uint8Array(crop.width * crop.height * 3);
  const offset = (excess: number): number => (config.flavour === 'torch' ? roundHalfEven(excess / 2) : Math.floor(excess / 2));
  const top = offset(size.height - crop.height);
  const left = offset(size.width - crop.width);
  for (let y = 0; y < crop.height; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= size.height) continue;
    for (let x = 0; x < crop.width; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= size.width) continue;
      const s = (sy * size.width + sx) * 3;
      const d = (y * crop.width + x) * 3;
      out[d] = resized[s]!;
      out[d + 1] = resized[s + 1]!;
      out[d + 2] = resized[s + 2]!;
    }
  }
  return { data: out, width: crop.width, height: crop.height };
}

/**
 * Full preprocessing of one image into `out` (float32 CHW [3, h, w]) at element `offset`.
 * Returns the number of floats written (3·h·w).
 */
export function preprocessInto(image: RgbImage, config: ClipPreprocessConfig, out: Float32Array, offset: number): number {
  const cropped = resizeAndCrop(image, config);
  const hw = cropped.width * cropped.height;
  const scale = config.rescaleFactor ?? 1;
  for (let c = 0; c < 3; c++) {
    const mean = config.mean?.[c] ?? 0;
    const std = config.std?.[c] ?? 1;
    const base = offset + c * hw;
    for (let p = 0; p < hw; p++) {
      const v = Math.fround(cropped.data[p * 3 + c]! * scale);
      out[base + p] = (v - mean) / std;
    }
  }
  return 3 * hw;
}

/** Preprocess one image into a new float32 CHW array [3, h, w]. */
export function preprocessImage(image: RgbImage, config: ClipPreprocessConfig): Float32Array {
  const crop = config.crop ?? resizeOutputSize(image.width, image.height, config);
  const out = new Float32Array(3 * crop.width * crop.height);
  preprocessInto(image, config, out, 0);
  return out;
}
