/**
 * Pillow-compatible resampling of 8-bit RGB images, so that CLIP preprocessing in Node matches the
 * Python image processor (which resizes with `PIL.Image.resize`).
 *
 * Algorithm (Pillow `src/libImaging/Resample.c`, `ImagingResampleInner`): separable convolution,
 * horizontal pass then vertical pass. For an output index `xx` with `scale = in/out` and
 * `filterscale = max(scale, 1)` (antialiasing when shrinking):
 *   center  = (xx + 0.5)·scale
 *   support = filter.support·filterscale
 *   xmin    = trunc(center − support + 0.5) clamped to ≥ 0,  xmax = trunc(center + support + 0.5) clamped to ≤ in
 *   w[x]    = filter((x + xmin − center + 0.5) / filterscale), normalised to sum 1
 * Weights become 22-bit fixed point (`PRECISION_BITS = 32 − 8 − 2`, rounded half away from zero),
 * each pass accumulates `2^21 + Σ pixel·w` in integers and stores `clip(acc >> 22, 0, 255)`, so the
 * intermediate image is rounded to 8 bits exactly as Pillow does. Filters: bicubic (a = −0.5),
 * bilinear (triangle), Lanczos-3, box, Hamming; `nearest` samples `floor((xx + 0.5)·scale)`.
 * Departures from Pillow: none known for RGB input (tested against CLIP reference pixels; see
 * clip-preprocess.test.ts for the tolerance reached).
 */

/** Pillow resampling filter ids, as in `preprocessor_config.json` `resample`. */
export const PIL_RESAMPLE = { nearest: 0, lanczos: 1, bilinear: 2, bicubic: 3, box: 4, hamming: 5 } as const;

interface Filter {
  support: number;
  fn: (x: number) => number;
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

const FILTERS: Readonly<Record<number, Filter>> = {
  1: { support: 3, fn: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
  2: {
    support: 1,
    fn: (x) => {
      const a = Math.abs(x);
      return a < 1 ? 1 - a : 0;
    },
  },
  3: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      const v = Math.abs(x);
      if (v < 1) return ((a + 2) * v - (a + 3)) * v * v + 1;
      if (v < 2) return (((v - 5) * v + 8) * v - 4) * a;
      return 0;
    },
  },
  4: { support: 0.5, fn: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  5: {
    support: 1,
    fn: (x) => {
      const v = Math.abs(x);
      if (v === 0) return 1;
      if (v >= 1) return 0;
      const px = v * Math.PI;
      return (Math.sin(px) / px) * (0.54 + 0.46 * Math.cos(px));
    },
  },
};

const PRECISION_BITS = 22;

/**
 * Which fixed-point arithmetic to reproduce: `pil` (Pillow, 22-bit weights; HF's PIL-based "slow"
 * processors) or `torch` (torch's uint8 antialiased resize used by torchvision and HF's "fast"
 * processors, the default in transformers ≥ 5: int16 weights whose precision is the largest that
 * keeps 2·max weight below 2^15). The weights themselves are the same.
 */
export type ResampleFlavour = 'pil' | 'torch';

interface Coeffs {
  ksize: number;
  /** Fixed-point precision of `kk` (bits). */
  precision: number;
  /** [xmin, count] per output index. */
  bounds: Int32Array;
  /** Fixed-point weights, ksize per output index. */
  kk: Int32Array;
}

function precomputeCoeffs(inSize: number, outSize: number, filter: Filter, flavour: ResampleFlavour): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const weights = new Float64Array(outSize * ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) weights[xx * ksize + x] = ww !== 0 ? k[x]! / ww : k[x]!;
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  let precision = PRECISION_BITS;
  if (flavour === 'torch') {
    // torch `_compute_index_ranges_int16_weights`: int16 weights, precision from the largest weight.
    let wMax = weights[0]!;
    for (const w of weights) if (w > wMax) wMax = w;
    for (precision = 0; precision < 22; precision++) {
      if (Math.trunc(0.5 + wMax * 2 ** (precision + 1)) >= 2 ** 15) break;
    }
  }
  const one = 2 ** precision;
  for (let i = 0; i < weights.length; i++) {
    const v = weights[i]!;
    kk[i] = v < 0 ? Math.trunc(-0.5 + v * one) : Math.trunc(0.5 + v * one);
  }
  return { ksize, precision, bounds, kk };
}

function clip8(acc: number, one: number): number {
  // acc is an exact integer below 2^53, so floor(acc / 2^bits) equals C's arithmetic shift.
  const v = Math.floor(acc / one);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * Resize an interleaved 8-bit image (`channels` values per pixel, row-major) like Pillow's
 * `Image.resize((outW, outH), resample)`. Returns a new buffer of `outW·outH·channels` bytes.
 */
export function resizeImage(
  data: Uint8Array,
  width: number,
  height: number,
  channels: number,
  outW: number,
  outH: number,
  resample: number,
  flavour: ResampleFlavour = 'pil',
): Uint8Array {
  if (outW === width && outH === height) return data.slice();
  if (resample === PIL_RESAMPLE.nearest) {
    const out = new Uint8Array(outW * outH * channels);
    const sx = width / outW;
    const sy = height / outH;
    for (let y = 0; y < outH; y++) {
      const iy = Math.min(Math.floor((y + 0.5) * sy), height - 1);
      for (let x = 0; x < outW; x++) {
        const ix = Math.min(Math.floor((x + 0.5) * sx), width - 1);
        for (let c = 0; c < channels; c++) out[(y * outW + x) * channels + c] = data[(iy * width + ix) * channels + c]!;
      }
    }
    return out;
  }
  const filter = FILTERS[resample];
  if (!filter) throw new RangeError(`unknown Pillow resample filter ${resample} (expected 0–5)`);
  let src = data;
  let srcW = width;
  if (outW !== width) {
    const { ksize, bounds, kk, precision } = precomputeCoeffs(width, outW, filter, flavour);
    const one = 2 ** precision;
    const half = precision > 0 ? one / 2 : 0;
    const tmp = new Uint8Array(outW * height * channels);
    for (let y = 0; y < height; y++) {
      const row = y * width * channels;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[xx * 2]!;
        const count = bounds[xx * 2 + 1]!;
        const kOff = xx * ksize;
        const dst = (y * outW + xx) * channels;
        if (channels === 3) {
          let a0 = half;
          let a1 = half;
          let a2 = half;
          let p = row + xmin * 3;
          for (let x = 0; x < count; x++, p += 3) {
            const w = kk[kOff + x]!;
            a0 += src[p]! * w;
            a1 += src[p + 1]! * w;
            a2 += src[p + 2]! * w;
          }
          tmp[dst] = clip8(a0, one);
          tmp[dst + 1] = clip8(a1, one);
          tmp[dst + 2] = clip8(a2, one);
          continue;
        }
        for (let c = 0; c < channels; c++) {
          let acc = half;
          for (let x = 0; x < count; x++) acc += src[row + (x + xmin) * channels + c]! * kk[kOff + x]!;
          tmp[dst + c] = clip8(acc, one);
        }
      }
    }
    src = tmp;
    srcW = outW;
  }
  if (outH !== height) {
    const { ksize, bounds, kk, precision } = precomputeCoeffs(height, outH, filter, flavour);
    const one = 2 ** precision;
    const half = precision > 0 ? one / 2 : 0;
    const out = new Uint8Array(srcW * outH * channels);
    for (let yy = 0; yy < outH; yy++) {
      const ymin = bounds[yy * 2]!;
      const count = bounds[yy * 2 + 1]!;
      const kOff = yy * ksize;
      // Accumulate whole rows: for each tap, add weight · source row to the accumulators.
      const acc = new Float64Array(srcW * channels).fill(half);
      for (let y = 0; y < count; y++) {
        const w = kk[kOff + y]!;
        const base = (y + ymin) * srcW * channels;
        for (let i = 0; i < acc.length; i++) acc[i] += src[base + i]! * w;
      }
      const dst = yy * srcW * channels;
      for (let i = 0; i < acc.length; i++) out[dst + i] = clip8(acc[i]!, one);
    }
    src = out;
  }
  return src === data ? data.slice() : src;
}
