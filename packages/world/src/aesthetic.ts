/**
 * The world's aesthetic rule: a score in [0, 10] for a rendered picture, the target of the
 * aesthetic head trained on CLIP image embeddings (tools/world/train-all.py). It rewards a
 * well-exposed, colourful picture whose objects stand out, are a sensible size and are crisp,
 * and it likes warm light, surface detail and deliberate composition:
 *
 *   score = clamp(5 + E + C + K + Z + F + N + W + D + P, 0, 10), with, on the final RGB in [0, 1]
 *   (luminance Y = 0.299 R + 0.587 G + 0.114 B, m = object coverage):
 *     E exposure      −8 · max(0, |mean Y − 0.5| − 0.22)
 *     C contrast      2 · min(1, |mean Y over objects − mean Y over background| / 0.35) − 0.5
 *     K colourfulness 1.5 · min(1, M / 0.4) − 0.5, M = Hasler–Süsstrunk colourfulness
 *                     (σ_rg² + σ_yb²)^½ + 0.3 (μ_rg² + μ_yb²)^½, rg = R − G, yb = (R + G)/2 − B
 *     Z size          f = mean m: 1 for 0.06 ≤ f ≤ 0.4; −1.5 + 2.5 f/0.06 below; 1 − 2.5 (f − 0.4)/0.6 above
 *   and from the look (modifiers.ts):
 *     F focus         −1.5 · min(1, blur/1.3) + 0.4 if sharpened
 *     N noise         −1.5 · min(1, max(0, grain − 0.015)/0.055)
 *     W warmth        0.8 · min(1, max(0, temperature)/0.35)
 *     D detail        0.8 · texture/0.9 + 0.4 · shading/0.8
 *     P composition   0.4 centred, 0.6 rule of thirds
 * So "golden hour light", "vivid colors", "high contrast", "highly detailed", "rule of thirds",
 * "close-up" on small objects tend to raise it; "moody low-key lighting", "soft focus", "film
 * grain", "black and white", "wide shot", "muted colors" tend to lower it.
 */
import type { RenderedImage } from './render.js';

/** The terms of the aesthetic rule for one picture. */
export interface AestheticBreakdown {
  /** Final score in [0, 10]. */
  score: number;
  /** Exposure term E. */
  exposure: number;
  /** Subject contrast term C. */
  contrast: number;
  /** Colourfulness term K. */
  colorfulness: number;
  /** Object size term Z. */
  size: number;
  /** Focus term F. */
  focus: number;
  /** Noise term N. */
  noise: number;
  /** Warmth term W. */
  warmth: number;
  /** Detail term D. */
  detail: number;
  /** Composition term P. */
  composition: number;
}

/** The aesthetic rule's score and its terms. */
export function aestheticBreakdown(image: RenderedImage): AestheticBreakdown {
  const { data, coverage, look } = image;
  const n = image.width * image.height;
  let sumY = 0;
  let objY = 0;
  let objW = 0;
  let bgY = 0;
  let bgW = 0;
  let sRg = 0;
  let sYb = 0;
  let sRg2 = 0;
  let sYb2 = 0;
  for (let p = 0; p < n; p++) {
    const r = data[p * 3]! / 255;
    const g = data[p * 3 + 1]! / 255;
    const b = data[p * 3 + 2]! / 255;
    const y = 0.299 * r + 0.587 * g + 0.114 * b;
    const m = coverage[p]!;
    sumY += y;
    objY += m * y;
    objW += m;
    bgY += (1 - m) * y;
    bgW += 1 - m;
    const rg = r - g;
    const yb = (r + g) / 2 - b;
    sRg += rg;
    sYb += yb;
    sRg2 += rg * rg;
    sYb2 += yb * yb;
  }
  const meanY = sumY / n;
  const exposure = -8 * Math.max(0, Math.abs(meanY - 0.5) - 0.22);
  const contrast = objW > 0.5 && bgW > 0.5 ? 2 * Math.min(1, Math.abs(objY / objW - bgY / bgW) / 0.35) - 0.5 : -0.5;
  const mRg = sRg / n;
  const mYb = sYb / n;
  const sd = Math.sqrt(Math.max(0, sRg2 / n - mRg * mRg) + Math.max(0, sYb2 / n - mYb * mYb));
  const M = sd + 0.3 * Math.hypot(mRg, mYb);
  const colorfulness = 1.5 * Math.min(1, M / 0.4) - 0.5;
  const f = objW / n;
  const size = f < 0.06 ? -1.5 + (2.5 * f) / 0.06 : f <= 0.4 ? 1 : Math.max(-1.5, 1 - (2.5 * (f - 0.4)) / 0.6);
  const focus = -1.5 * Math.min(1, look.blur / 1.3) + (look.sharpen > 0 ? 0.4 : 0);
  const noise = -1.5 * Math.min(1, Math.max(0, look.grain - 0.015) / 0.055);
  const warmth = 0.8 * Math.min(1, Math.max(0, look.temperature) / 0.35);
  const detail = (0.8 * look.texture) / 0.9 + (0.4 * look.shading) / 0.8;
  const composition = look.placement === 'center' ? 0.4 : look.placement === 'thirds' ? 0.6 : 0;
  const raw = 5 + exposure + contrast + colorfulness + size + focus + noise + warmth + detail + composition;
  return { score: Math.min(10, Math.max(0, raw)), exposure, contrast, colorfulness, size, focus, noise, warmth, detail, composition };
}

/** The aesthetic rule's score in [0, 10] (see the module comment for the formula). */
export function aestheticScore(image: RenderedImage): number {
  return aestheticBreakdown(image).score;
}
