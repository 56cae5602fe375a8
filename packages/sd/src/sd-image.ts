/**
 * Generated images and their quality validation.
 *
 * Pixels follow diffusers' post-processing: decoder output x ∈ [−1, 1] → clamp(x/2 + 0.5, 0, 1),
 * NCHW → HWC; 8-bit values are round(255·v) with NumPy's half-to-even rounding, as
 * `numpy_to_pil` does. The float32 array is exactly diffusers' `output_type="np"` image.
 */
import type { StageTimings } from './timings.js';

/** A problem found by quality validation. */
export type QualityIssue =
  | 'nan-latents'
  | 'inf-latents'
  | 'nan-pixels'
  | 'inf-pixels'
  | 'black'
  | 'near-constant';

/** Thresholds of the quality validation. */
export interface QualityThresholds {
  /** An image whose brightest value is below this (in [0, 1]) is `black` (default: 0.02). */
  blackMax?: number;
  /** An image whose pixel standard deviation is below this is `near-constant` (default: 0.004, about 1/255). */
  constantStd?: number;
}

/** Result of validating one image. */
export interface QualityReport {
  /** True when no issue was found. */
  ok: boolean;
  /** Issues found (empty when ok). */
  issues: QualityIssue[];
  /** Pixel statistics over all channels, in [0, 1] (NaN when pixels are not finite). */
  stats: { min: number; max: number; mean: number; std: number };
}

/**
 * Validate final latents and raw decoder output (NCHW slice of one image, values before
 * clamping) and return the report. Non-finite values are counted before clamping hides them.
 */
export function checkQuality(latents: Float32Array, decoded: Float32Array, thresholds: QualityThresholds = {}): QualityReport {
  const issues: QualityIssue[] = [];
  let nanL = false;
  let infL = false;
  for (const v of latents) {
    if (Number.isNaN(v)) nanL = true;
    else if (!Number.isFinite(v)) infL = true;
  }
  if (nanL) issues.push('nan-latents');
  if (infL) issues.push('inf-latents');
  let nanP = false;
  let infP = false;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  let sum = 0;
  let sumSq = 0;
  for (const raw of decoded) {
    if (Number.isNaN(raw)) {
      nanP = true;
      continue;
    }
    if (!Number.isFinite(raw)) infP = true;
    const v = Math.min(1, Math.max(0, raw / 2 + 0.5));
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    sumSq += v * v;
  }
  if (nanP) issues.push('nan-pixels');
  if (infP) issues.push('inf-pixels');
  const n = decoded.length;
  const mean = nanP ? Number.NaN : sum / n;
  const std = nanP ? Number.NaN : Math.sqrt(Math.max(0, sumSq / n - mean * mean));
  if (!nanP) {
    if (max < (thresholds.blackMax ?? 0.02)) issues.push('black');
    else if (std < (thresholds.constantStd ?? 0.004)) issues.push('near-constant');
  }
  return { ok: issues.length === 0, issues, stats: { min: nanP ? Number.NaN : min, max: nanP ? Number.NaN : max, mean, std } };
}

/** Convert one image's raw decoder output (NCHW slice [3, H, W]) to HWC floats in [0, 1]. */
export function postprocess(decoded: Float32Array, height: number, width: number): Float32Array {
  const hw = height * width;
  const out = new Float32Array(hw * 3);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < hw; i++) {
      const v = decoded[c * hw + i]! / 2 + 0.5;
      out[i * 3 + c] = v < 0 ? 0 : v > 1 ? 1 : v;
    }
  }
  return out;
}

/** 8-bit RGB from HWC floats in [0, 1]: round-half-even of 255·v (NaN → 0). */
export function toUint8(pixels: Float32Array): Uint8Array {
  const out = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const x = Math.fround(pixels[i]! * 255);
    if (Number.isNaN(x)) continue;
    let r = Math.round(x);
    if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) r -= 1;
    out[i] = r;
  }
  return out;
}

/** One generated image. */
export class SdImage {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** RGB bytes, HWC row-major (length width·height·3). */
  readonly data: Uint8Array;
  /** HWC floats in [0, 1] (diffusers `output_type="np"`), present with `outputType: 'float32'`. */
  readonly float32: Float32Array | undefined;
  /** The prompt it was generated from. */
  readonly prompt: string;
  /** Seed of its initial noise, when drawn from a seed (undefined with explicit `latents`). */
  readonly seed: number | undefined;
  /** Quality validation result (`ok: true` with no issues when validation is off). */
  readonly quality: QualityReport;
  /** Seconds spent per stage for the batch this image belongs to. */
  readonly timings: StageTimings;

  constructor(fields: {
    width: number;
    height: number;
    data: Uint8Array;
    float32?: Float32Array;
    prompt: string;
    seed?: number;
    quality: QualityReport;
    timings: StageTimings;
  }) {
    this.width = fields.width;
    this.height = fields.height;
    this.data = fields.data;
    this.float32 = fields.float32;
    this.prompt = fields.prompt;
    this.seed = fields.seed;
    this.quality = fields.quality;
    this.timings = fields.timings;
  }

  /** PNG bytes (encoded by sharp, imported on first use). */
  async toPNG(): Promise<Buffer> {
    const { default: sharp } = await import('sharp');
    return sharp(Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength), {
      raw: { width: this.width, height: this.height, channels: 3 },
    })
      .png()
      .toBuffer();
  }
}
