/**
 * Rendering a scene to RGB with plain pixel math (no native code, no canvas). Steps, on float
 * RGB in [0, 1], at `size` × `size` (default 64); lengths below are in pixels at 64 px and scale
 * with the size:
 *
 *   1. background: plain colour or setting (field, beach, night, sky, underwater); with texture a
 *      fine pattern; with backgroundBlur soft bokeh discs, then a Gaussian blur of the background
 *      layer only (σ = look.backgroundBlur);
 *   2. objects (layout.ts), 3 × 3 supersampled: main or second colour, a surface pattern
 *      (texture), spherical shading (shading), a lit rim on the upper-left side (rimLight),
 *      outlines on paper (outline); coverage = fraction of subsamples inside an object;
 *   3. glow: the object colour layer blurred (σ 3) and added outside the objects;
 *   4. light rays: diagonal bands brightened;
 *   5. colour temperature (R·(1 + 0.3t), G·(1 + 0.06t), B·(1 − 0.3t)), exposure (+brightness),
 *      contrast around 0.5, saturation around luminance, vignette;
 *   6. tone (gray: luminance; sepia: the classic sepia matrix), pastel wash towards paper white;
 *   7. blur (σ = look.blur), unsharp mask (amount look.sharpen, σ 1), pixelation (block means);
 *   8. grain: N(0, look.grain²) per channel (seeded by scene.seed), clamp, round to uint8.
 */
import { layoutScene, type PlacedObject } from './layout.js';
import { lookOf, type Look } from './modifiers.js';
import { Random } from './random.js';
import type { Scene } from './scene.js';
import { partAt } from './shapes.js';
import { COLOR_RGB, PLAIN_BACKGROUND_RGB, type Rgb } from './vocabulary.js';

/** A rendered picture. */
export interface RenderedImage {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** RGB bytes, row-major HWC (width × height × 3). */
  data: Uint8Array;
  /** Fraction of each pixel covered by objects (width × height), before blur and pixelation. */
  coverage: Float32Array;
  /** The placed objects. */
  objects: PlacedObject[];
  /** The look the modifiers produced. */
  look: Look;
}

/** Options of {@link renderScene}. */
export interface RenderOptions {
  /** Side of the square picture in pixels (default: 64). */
  size?: number;
  /** Use this look instead of the one the scene's modifiers give (default: lookOf(scene.modifiers)). */
  look?: Look;
}

const PAPER: Rgb = [0.96, 0.95, 0.91];
const TRUNK: Rgb = [0.42, 0.26, 0.12];

const lum = (r: number, g: number, b: number): number => 0.299 * r + 0.587 * g + 0.114 * b;

/** Separable Gaussian blur of a planar-interleaved image (channels c) in place; σ in pixels. */
export function gaussianBlur(img: Float32Array, w: number, h: number, c: number, sigma: number): void {
  if (sigma <= 0.05) return;
  const radius = Math.ceil(sigma * 3);
  const kernel = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let i = -radius; i <= radius; i++) sum += kernel[i + radius] = Math.exp(-(i * i) / (2 * sigma * sigma));
  for (let i = 0; i < kernel.length; i++) kernel[i]! /= sum;
  const tmp = new Float32Array(img.length);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = -radius; k <= radius; k++) {
          const xx = Math.min(w - 1, Math.max(0, x + k));
          s += kernel[k + radius]! * img[(y * w + xx) * c + ch]!;
        }
        tmp[(y * w + x) * c + ch] = s;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let s = 0;
        for (let k = -radius; k <= radius; k++) {
          const yy = Math.min(h - 1, Math.max(0, y + k));
          s += kernel[k + radius]! * tmp[(yy * w + x) * c + ch]!;
        }
        img[(y * w + x) * c + ch] = s;
      }
    }
  }
}

function mix(a: Rgb, b: Rgb, t: number): [number, number, number] {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

function backgroundAt(scene: Scene, u: number, v: number): [number, number, number] {
  const plain = PLAIN_BACKGROUND_RGB[scene.background];
  if (plain) return [...plain];
  switch (scene.background) {
    case 'field':
      return v < 0.55 ? mix([0.45, 0.68, 0.95], [0.75, 0.86, 0.98], v / 0.55) : mix([0.4, 0.72, 0.3], [0.25, 0.55, 0.18], (v - 0.55) / 0.45);
    case 'beach':
      if (v < 0.42) return mix([0.45, 0.68, 0.95], [0.78, 0.88, 0.98], v / 0.42);
      if (v < 0.6) return mix([0.15, 0.45, 0.75], [0.25, 0.6, 0.8], (v - 0.42) / 0.18);
      return mix([0.93, 0.84, 0.6], [0.85, 0.74, 0.5], (v - 0.6) / 0.4);
    case 'night':
      return mix([0.03, 0.04, 0.14], [0.1, 0.12, 0.28], v);
    case 'sky':
      return mix([0.3, 0.55, 0.92], [0.7, 0.84, 0.98], v);
    case 'underwater':
      return mix([0.12, 0.6, 0.7], [0.03, 0.22, 0.38], v);
    default:
      return [0.9, 0.9, 0.88];
  }
}

/** Render a scene (deterministic in the scene, including its seed). */
export function renderScene(scene: Scene, options: RenderOptions = {}): RenderedImage {
  const size = options.size ?? 64;
  const px = size / 64;
  const look = options.look ?? lookOf(scene.modifiers);
  const objects = layoutScene(scene, look);
  const rng = new Random(scene.seed ^ 0x7a11);
  const n = size * size;

  // 1. Background layer.
  const bg = new Float32Array(n * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const c = backgroundAt(scene, (x + 0.5) / size, (y + 0.5) / size);
      if (look.texture > 0) {
        const t = 1 + 0.07 * look.texture * Math.sin(((x + y) * 2 * Math.PI) / (3 * px)) * Math.sin(((x - y) * 2 * Math.PI) / (5 * px));
        for (let ch = 0; ch < 3; ch++) c[ch] = c[ch]! * t;
      }
      bg.set(c, (y * size + x) * 3);
    }
  }
  if (scene.background === 'night') {
    for (let k = 0; k < 24; k++) {
      const i = rng.int(n);
      const b = rng.uniform(0.6, 1);
      bg[i * 3] = b;
      bg[i * 3 + 1] = b;
      bg[i * 3 + 2] = b * 0.9;
    }
  }
  if (scene.background === 'underwater') {
    for (let k = 0; k < 6; k++) {
      const bx = rng.uniform(0.05, 0.95) * size;
      const by = rng.uniform(0.05, 0.95) * size;
      const br = rng.uniform(0.8, 1.8) * px;
      for (let y = Math.max(0, Math.floor(by - br - 1)); y < Math.min(size, by + br + 1); y++) {
        for (let x = Math.max(0, Math.floor(bx - br - 1)); x < Math.min(size, bx + br + 1); x++) {
          const d = Math.hypot(x + 0.5 - bx, y + 0.5 - by);
          if (Math.abs(d - br) < 0.6 * px) for (let ch = 0; ch < 3; ch++) bg[(y * size + x) * 3 + ch] = 0.75;
        }
      }
    }
  }
  if (look.backgroundBlur > 0) {
    for (let k = 0; k < 9; k++) {
      const bx = rng.uniform(0, size);
      const by = rng.uniform(0, size);
      const br = rng.uniform(2.5, 5) * px;
      const tint = rng.uniform(0.25, 0.45);
      for (let y = 0; y < size; y++) {
        for (let x = 0; x < size; x++) {
          if (Math.hypot(x + 0.5 - bx, y + 0.5 - by) <= br) {
            for (let ch = 0; ch < 3; ch++) bg[(y * size + x) * 3 + ch] = bg[(y * size + x) * 3 + ch]! * (1 - tint) + tint;
          }
        }
      }
    }
    gaussianBlur(bg, size, size, 3, look.backgroundBlur * px);
  }
  if (look.outline) for (let i = 0; i < bg.length; i++) bg[i] = bg[i]! * 0.3 + PAPER[i % 3]! * 0.7;

  // 2. Objects, 3 × 3 supersampled.
  const img = new Float32Array(bg);
  const coverage = new Float32Array(n);
  const colorLayer = new Float32Array(n * 3);
  const SS = 3;
  const edge = 0.16;
  // Pixel bounding boxes (inclusive) of the objects, to skip pixels no object touches.
  const boxes = objects.map((ob) => [
    Math.floor((ob.x - ob.r * 1.05) * size), Math.ceil((ob.x + ob.r * 1.05) * size),
    Math.floor((ob.y - ob.r * 1.05) * size), Math.ceil((ob.y + ob.r * 1.05) * size),
  ] as const);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!boxes.some(([x0, x1, y0, y1]) => x >= x0 && x <= x1 && y >= y0 && y <= y1)) continue;
      let acc0 = 0;
      let acc1 = 0;
      let acc2 = 0;
      let hits = 0;
      const p = y * size + x;
      for (let sy = 0; sy < SS; sy++) {
        for (let sx = 0; sx < SS; sx++) {
          const fx = (x + (sx + 0.5) / SS) / size;
          const fy = (y + (sy + 0.5) / SS) / size;
          let color: [number, number, number] | undefined;
          for (let o = objects.length - 1; o >= 0 && !color; o--) {
            const ob = objects[o]!;
            const u = (fx - ob.x) / ob.r;
            const v = (fy - ob.y) / ob.r;
            if (u < -1.05 || u > 1.05 || v < -1.05 || v > 1.05) continue;
            const part = partAt(ob.shape, u, v);
            if (part === 0) continue;
            const base = part === 2 ? (ob.shape === 'tree' ? TRUNK : ob.shape === 'flower' ? (ob.color === 'yellow' ? COLOR_RGB.orange : COLOR_RGB.yellow) : mix(COLOR_RGB[ob.color], [0, 0, 0], 0.45)) : COLOR_RGB[ob.color];
            let c: [number, number, number] = [base[0], base[1], base[2]];
            if (look.outline) {
              const boundary =
                partAt(ob.shape, u + edge, v) === 0 || partAt(ob.shape, u - edge, v) === 0 || partAt(ob.shape, u, v + edge) === 0 || partAt(ob.shape, u, v - edge) === 0;
              c = boundary ? mix(base, [0, 0, 0], 0.55) : mix(PAPER, base, 0.25);
            } else {
              let f = 1;
              if (look.texture > 0) f *= 1 + 0.2 * look.texture * (Math.sin(u * 9 + v * 4) > 0.3 ? 1 : -0.6) * (Math.cos(v * 11 - u * 3) > 0 ? 1 : 0.5);
              if (look.shading > 0) f *= 1 + look.shading * (0.35 - 0.45 * Math.hypot(u + 0.35, v + 0.35));
              c = [c[0] * f, c[1] * f, c[2] * f];
              if (look.rimLight > 0 && partAt(ob.shape, u - edge * 1.3, v - edge * 1.3) === 0) c = mix(c, [1, 0.97, 0.9], look.rimLight * 0.85);
            }
            color = c;
          }
          if (color) {
            acc0 += color[0];
            acc1 += color[1];
            acc2 += color[2];
            hits++;
          }
        }
      }
      if (hits > 0) {
        const cov = hits / (SS * SS);
        coverage[p] = cov;
        const m0 = acc0 / hits;
        const m1 = acc1 / hits;
        const m2 = acc2 / hits;
        colorLayer[p * 3] = m0 * cov;
        colorLayer[p * 3 + 1] = m1 * cov;
        colorLayer[p * 3 + 2] = m2 * cov;
        img[p * 3] = bg[p * 3]! * (1 - cov) + m0 * cov;
        img[p * 3 + 1] = bg[p * 3 + 1]! * (1 - cov) + m1 * cov;
        img[p * 3 + 2] = bg[p * 3 + 2]! * (1 - cov) + m2 * cov;
      }
    }
  }

  // 3. Glow.
  if (look.glow > 0) {
    gaussianBlur(colorLayer, size, size, 3, 3 * px);
    for (let p = 0; p < n; p++) {
      const outside = 1 - coverage[p]!;
      for (let ch = 0; ch < 3; ch++) img[p * 3 + ch] = img[p * 3 + ch]! + look.glow * 1.6 * colorLayer[p * 3 + ch]! * outside;
    }
  }

  // 4. Light rays.
  if (look.rays > 0) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        const band = Math.max(0, Math.sin(((x + 0.6 * y) * 2 * Math.PI) / (16 * px))) ** 4;
        for (let ch = 0; ch < 3; ch++) img[(y * size + x) * 3 + ch] = img[(y * size + x) * 3 + ch]! + look.rays * 0.22 * band * (ch === 2 ? 0.8 : 1);
      }
    }
  }

  // 5–6. Light and tone.
  const t = look.temperature;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = (y * size + x) * 3;
      let r = img[p]! * (1 + 0.3 * t);
      let g = img[p + 1]! * (1 + 0.06 * t);
      let b = img[p + 2]! * (1 - 0.3 * t);
      r += look.brightness;
      g += look.brightness;
      b += look.brightness;
      r = (r - 0.5) * look.contrast + 0.5;
      g = (g - 0.5) * look.contrast + 0.5;
      b = (b - 0.5) * look.contrast + 0.5;
      const l = lum(r, g, b);
      r = l + (r - l) * look.saturation;
      g = l + (g - l) * look.saturation;
      b = l + (b - l) * look.saturation;
      if (look.vignette > 0) {
        const d2 = ((x + 0.5) / size - 0.5) ** 2 + ((y + 0.5) / size - 0.5) ** 2;
        const f = 1 - look.vignette * Math.min(1, d2 / 0.5) * 1.1;
        r *= f;
        g *= f;
        b *= f;
      }
      if (look.tone === 'gray') {
        r = g = b = lum(r, g, b);
      } else if (look.tone === 'sepia') {
        const [r0, g0, b0] = [r, g, b];
        r = 0.393 * r0 + 0.769 * g0 + 0.189 * b0;
        g = 0.349 * r0 + 0.686 * g0 + 0.168 * b0;
        b = 0.272 * r0 + 0.534 * g0 + 0.131 * b0;
      }
      if (look.pastel > 0) {
        const l2 = lum(r, g, b);
        r = (l2 + (r - l2) * 0.6) * (1 - look.pastel) + 0.97 * look.pastel;
        g = (l2 + (g - l2) * 0.6) * (1 - look.pastel) + 0.95 * look.pastel;
        b = (l2 + (b - l2) * 0.6) * (1 - look.pastel) + 0.92 * look.pastel;
      }
      img[p] = r;
      img[p + 1] = g;
      img[p + 2] = b;
    }
  }

  // 7. Focus and pixelation.
  if (look.blur > 0) gaussianBlur(img, size, size, 3, look.blur * px);
  if (look.sharpen > 0) {
    const soft = new Float32Array(img);
    gaussianBlur(soft, size, size, 3, 1 * px);
    for (let i = 0; i < img.length; i++) img[i] = img[i]! + look.sharpen * (img[i]! - soft[i]!);
  }
  if (look.pixelate > 1) {
    const block = Math.max(1, Math.round(look.pixelate * px));
    for (let by = 0; by < size; by += block) {
      for (let bx = 0; bx < size; bx += block) {
        const sums = [0, 0, 0];
        let count = 0;
        for (let y = by; y < Math.min(size, by + block); y++) {
          for (let x = bx; x < Math.min(size, bx + block); x++, count++) for (let ch = 0; ch < 3; ch++) sums[ch]! += img[(y * size + x) * 3 + ch]!;
        }
        for (let y = by; y < Math.min(size, by + block); y++) {
          for (let x = bx; x < Math.min(size, bx + block); x++) for (let ch = 0; ch < 3; ch++) img[(y * size + x) * 3 + ch] = sums[ch]! / count;
        }
      }
    }
  }

  // 8. Grain and quantisation.
  const data = new Uint8Array(n * 3);
  for (let i = 0; i < img.length; i++) {
    const v = img[i]! + (look.grain > 0 ? look.grain * rng.normal() : 0);
    data[i] = Math.round(Math.min(1, Math.max(0, v)) * 255);
  }
  return { width: size, height: size, data, coverage, objects, look };
}
