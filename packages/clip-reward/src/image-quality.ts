/**
 * No-reference image quality checks that need no model. All work on luma
 * Y = 0.299·R + 0.587·G + 0.114·B (ITU-R BT.601, as PIL's `convert("L")`) with R, G, B in [0, 1],
 * over the full decoded image. Each check is in [0, 1], higher is better:
 *
 * - `notBlank`     = clamp(σ_Y / 0.02) · clamp(p99_Y / 0.1): 0 for a uniform image of any colour
 *                    (σ = 0) and for a black or almost black one (the brightest 1 % below 0.1 is
 *                    penalised linearly) — what SD's safety checker or a diverged run produces.
 * - `contrast`     = clamp(σ_Y / 0.2): RMS contrast, saturating at σ = 0.2 (natural photographs
 *                    typically have σ ≈ 0.15–0.3).
 * - `dynamicRange` = p99_Y − p1_Y: spread of the central 98 % of luma values (percentiles from a
 *                    256-bin histogram, so exact to 1/255).
 * - `sharpness`    = v / (v + k), v = variance of the 4-neighbour Laplacian [0 1 0; 1 −4 1; 0 1 0] of Y
 *                    over interior pixels, k = 100/255² (the usual "variance of Laplacian < 100 on
 *                    0–255 images is blurry" threshold maps to 0.5). Depends on resolution: compare
 *                    images of one size.
 * The combined score is the weighted arithmetic mean of the four (equal weights by default).
 */
import type { RgbImage } from './image-input.js';

/** Names of the quality checks. */
export type QualityCheck = 'notBlank' | 'contrast' | 'dynamicRange' | 'sharpness';

/** Quality scores of one image and the statistics behind them. */
export interface ImageQuality {
  /** Each check in [0, 1]. */
  checks: Record<QualityCheck, number>;
  /** Weighted mean of the checks, in [0, 1]. */
  score: number;
  /** Luma statistics (values in [0, 1]). */
  stats: { meanLuma: number; stdLuma: number; p1: number; p99: number; laplacianVariance: number };
}

/** Weights of the four checks in the combined score (default: 1 each). */
export type QualityWeights = Partial<Record<QualityCheck, number>>;

const clamp01 = (x: number): number => (x < 0 ? 0 : x > 1 ? 1 : x);
/** Laplacian variance at which `sharpness` is 0.5. */
export const SHARPNESS_HALF_POINT = 100 / 255 ** 2;

/** Compute the quality checks of one RGB image. */
export function imageQuality(image: RgbImage, weights: QualityWeights = {}): ImageQuality {
  const { width, height, data } = image;
  const n = width * height;
  const y = new Float64Array(n);
  const hist = new Uint32Array(256);
  let sum = 0;
  for (let p = 0; p < n; p++) {
    const v = (0.299 * data[p * 3]! + 0.587 * data[p * 3 + 1]! + 0.114 * data[p * 3 + 2]!) / 255;
    y[p] = v;
    sum += v;
    hist[Math.min(255, Math.round(v * 255))]!++;
  }
  const mean = sum / n;
  let sq = 0;
  for (let p = 0; p < n; p++) sq += (y[p]! - mean) ** 2;
  const std = Math.sqrt(sq / n);
  const percentile = (q: number): number => {
    const target = q * (n - 1);
    let acc = 0;
    for (let b = 0; b < 256; b++) {
      acc += hist[b]!;
      if (acc > target) return b / 255;
    }
    return 1;
  };
  const p1 = percentile(0.01);
  const p99 = percentile(0.99);
  let lapSum = 0;
  let lapSq = 0;
  let lapN = 0;
  for (let r = 1; r < height - 1; r++) {
    for (let c = 1; c < width - 1; c++) {
      const i = r * width + c;
      const l = y[i - 1]! + y[i + 1]! + y[i - width]! + y[i + width]! - 4 * y[i]!;
      lapSum += l;
      lapSq += l * l;
      lapN++;
    }
  }
  const lapVar = lapN > 0 ? Math.max(0, lapSq / lapN - (lapSum / lapN) ** 2) : 0;
  const checks: Record<QualityCheck, number> = {
    notBlank: clamp01(std / 0.02) * clamp01(p99 / 0.1),
    contrast: clamp01(std / 0.2),
    dynamicRange: clamp01(p99 - p1),
    sharpness: lapVar / (lapVar + SHARPNESS_HALF_POINT),
  };
  let wSum = 0;
  let score = 0;
  for (const key of Object.keys(checks) as QualityCheck[]) {
    const w = weights[key] ?? 1;
    if (!(w >= 0)) throw new RangeError(`quality weight ${key} must be ≥ 0, got ${w}`);
    wSum += w;
    score += w * checks[key];
  }
  return {
    checks,
    score: wSum > 0 ? score / wSum : 0,
    stats: { meanLuma: mean, stdLuma: std, p1, p99, laplacianVariance: lapVar },
  };
}
