/**
 * The safety checker that Stable Diffusion folders ship (diffusers' `StableDiffusionSafetyChecker`,
 * as Optimum and diffusers' ONNX export write it): `safety_checker/model.onnx` with
 * - inputs `clip_input` [B, 3, 224, 224] f32 (the CLIP image processor's output, settings from
 *   `feature_extractor/preprocessor_config.json`) and `images` [B, H, W, 3] f32 in [0, 1];
 * - outputs the images (blacked out where flagged) and `has_nsfw_concepts` [B] bool.
 *
 * Preprocessing as `CLIPImageProcessor`: resize the shortest edge to `size.shortest_edge` (224,
 * bicubic), centre-crop `crop_size` (224), × `rescale_factor` (1/255), normalise with `image_mean`
 * / `image_std` (CLIP's, the defaults when the folder has no preprocessor config).
 * Departures: the resize is sharp's cubic kernel, not PIL's bicubic (sub-pixel differences; the
 * checker thresholds cosine similarities and is insensitive to them); images run one at a time
 * (they may differ in size); an export whose flag output is a float score instead of a bool is
 * compared with `threshold`, so the same setting serves both.
 */
import { SdError } from './errors.js';
import { ModelRepository, type HubOptions } from './model-files.js';
import { OnnxModel, type Device, type Logger } from './onnx-session.js';

/** Options of {@link SafetyChecker.fromPretrained}. */
export interface SafetyCheckerOptions extends HubOptions {
  /** Execution device (default: `cpu`). */
  device?: Device;
  /** A flag output above this counts as flagged (default: 0.5; a bool output is 0 or 1). */
  threshold?: number;
  /** Log sink (default: warnings to `console.warn`). */
  logger?: Logger;
}

/** One checked image. */
export interface SafetyResult {
  /** True when the checker flags the image (score > threshold). */
  flagged: boolean;
  /** The checker's flag output as a number (0 or 1 for the usual bool export). */
  score: number;
}

/** An RGB(A) or grey image, HWC bytes. */
export interface SafetyImage {
  data: Uint8Array;
  width: number;
  height: number;
  /** Channels per pixel (default: 3). */
  channels?: 1 | 3 | 4;
}

interface Preprocess {
  shortestEdge: number;
  crop: { height: number; width: number };
  rescale: number;
  mean: [number, number, number];
  std: [number, number, number];
}

const CLIP_DEFAULTS: Preprocess = {
  shortestEdge: 224,
  crop: { height: 224, width: 224 },
  rescale: 1 / 255,
  mean: [0.48145466, 0.4578275, 0.40821073],
  std: [0.26862954, 0.26130258, 0.27577711],
};

function parsePreprocess(config: Record<string, unknown> | undefined): Preprocess {
  if (!config) return CLIP_DEFAULTS;
  const size = config['size'];
  const crop = config['crop_size'];
  const edge = typeof size === 'number' ? size : typeof size === 'object' && size !== null && typeof (size as Record<string, unknown>)['shortest_edge'] === 'number' ? ((size as Record<string, number>)['shortest_edge'] as number) : CLIP_DEFAULTS.shortestEdge;
  const cropSize =
    typeof crop === 'number'
      ? { height: crop, width: crop }
      : typeof crop === 'object' && crop !== null && typeof (crop as Record<string, unknown>)['height'] === 'number'
        ? { height: (crop as Record<string, number>)['height']!, width: (crop as Record<string, number>)['width']! }
        : CLIP_DEFAULTS.crop;
  const triple = (value: unknown, fallback: [number, number, number]): [number, number, number] =>
    Array.isArray(value) && value.length === 3 && value.every((v) => typeof v === 'number') ? (value as [number, number, number]) : fallback;
  return {
    shortestEdge: edge,
    crop: cropSize,
    rescale: typeof config['rescale_factor'] === 'number' ? config['rescale_factor'] : CLIP_DEFAULTS.rescale,
    mean: triple(config['image_mean'], CLIP_DEFAULTS.mean),
    std: triple(config['image_std'], CLIP_DEFAULTS.std),
  };
}

/** Stable Diffusion's safety checker over ONNX Runtime. */
export class SafetyChecker {
  private constructor(
    private readonly model: OnnxModel,
    private readonly preprocess: Preprocess,
    /** A flag output above this counts as flagged. */
    readonly threshold: number,
  ) {}

  /**
   * Load the safety checker of a model folder or hub repository (`safety_checker/model.onnx`,
   * `feature_extractor/preprocessor_config.json`). Resolves to undefined when the model has none.
   */
  static async fromPretrained(idOrPath: string, options: SafetyCheckerOptions = {}): Promise<SafetyChecker | undefined> {
    const threshold = options.threshold ?? 0.5;
    if (!Number.isFinite(threshold)) throw new SdError('SD_INVALID_ARGUMENT', `safety checker threshold: expected a finite number, received ${threshold}`);
    const repo = ModelRepository.open(idOrPath, options);
    const path = await repo.file('safety_checker/model.onnx', 'safety checker', false);
    if (path === undefined) return undefined;
    const config = await repo.json('feature_extractor/preprocessor_config.json', 'safety checker preprocessor config', false);
    const model = await OnnxModel.load(path, 'safety_checker', {
      ...(options.device === undefined ? {} : { device: options.device }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    for (const input of ['clip_input', 'images']) {
      if (!model.input(input)) {
        await model.dispose();
        throw new SdError('SD_INVALID_MODEL', `${path}: expected inputs clip_input [B,3,224,224] and images [B,H,W,3], found ${[...model.inputs.keys()].join(', ')}`);
      }
    }
    return new SafetyChecker(model, parsePreprocess(config), threshold);
  }

  /** CLIP pixel values [1, 3, crop.h, crop.w] and the image as [1, H, W, 3] floats in [0, 1]. */
  private async tensors(image: SafetyImage): Promise<{ clip: Float32Array; pixels: Float32Array }> {
    const channels = image.channels ?? 3;
    if (image.data.length !== image.width * image.height * channels) {
      throw new SdError('SD_INVALID_ARGUMENT', `safety checker: image data has ${image.data.length} bytes, expected ${image.width}×${image.height}×${channels}`);
    }
    const { default: sharp } = await import('sharp');
    const { shortestEdge, crop, rescale, mean, std } = this.preprocess;
    const scale = shortestEdge / Math.min(image.width, image.height);
    const width = Math.max(crop.width, Math.round(image.width * scale));
    const height = Math.max(crop.height, Math.round(image.height * scale));
    const rgb = await sharp(Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength), { raw: { width: image.width, height: image.height, channels } })
      .removeAlpha()
      .toColourspace('srgb')
      .resize({ width, height, kernel: 'cubic', fit: 'fill' })
      .extract({ left: Math.floor((width - crop.width) / 2), top: Math.floor((height - crop.height) / 2), width: crop.width, height: crop.height })
      .raw()
      .toBuffer({ resolveWithObject: true });
    const plane = crop.width * crop.height;
    const clip = new Float32Array(3 * plane);
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) clip[c * plane + p] = (rgb.data[p * rgb.info.channels + c]! * rescale - mean[c]!) / std[c]!;
    }
    const pixels = new Float32Array(image.width * image.height * 3);
    for (let p = 0; p < image.width * image.height; p++) {
      for (let c = 0; c < 3; c++) pixels[p * 3 + c] = image.data[p * channels + (channels === 1 ? 0 : c)]! / 255;
    }
    return { clip, pixels };
  }

  /** Check images one by one. */
  async check(images: readonly SafetyImage[]): Promise<SafetyResult[]> {
    const results: SafetyResult[] = [];
    const { crop } = this.preprocess;
    for (const image of images) {
      const { clip, pixels } = await this.tensors(image);
      const out = await this.model.run({
        clip_input: this.model.floatTensor('clip_input', clip, [1, 3, crop.height, crop.width]),
        images: this.model.floatTensor('images', pixels, [1, image.height, image.width, 3]),
      });
      const names = [...out.keys()];
      const flag = out.get(names.find((name) => /nsfw/iu.test(name)) ?? names.at(-1)!)!;
      const score = flag.data[0]!;
      results.push({ flagged: score > this.threshold, score });
    }
    return results;
  }

  /** Release the ONNX session (idempotent). */
  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}
