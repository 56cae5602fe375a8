/**
 * Image inputs accepted by the reward calculator, decoded to 8-bit RGB (HWC, row-major).
 *
 * Encoded bytes and files are decoded with sharp (imported lazily). As Hugging Face's
 * `convert_to_rgb` does, an alpha channel is composited over white and greyscale is expanded to
 * three channels; EXIF orientation is ignored (PIL does not apply it either). Float pixels in
 * [0, 1] (diffusers' `output_type="np"`) become bytes with round-half-to-even(255·v), as
 * diffusers' `numpy_to_pil` does.
 */
import type { Sharp, SharpConstructor } from 'sharp';
import { ClipRewardError, ImageInputError } from './errors.js';

/** Raw pixels: HWC row-major, 1 (grey), 3 (RGB) or 4 (RGBA) channels, bytes or floats in [0, 1]. */
export interface RawImageInput {
  /** Pixel values; `Float32Array`/`Float64Array` values are in [0, 1]. */
  data: Uint8Array | Uint8ClampedArray | Float32Array | Float64Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Channels per pixel (default: inferred from `data.length / (width·height)`). */
  channels?: 1 | 3 | 4;
}

/**
 * One image: a file path, encoded bytes (PNG, JPEG, WebP; GIF, TIFF and AVIF also decode), a sharp
 * instance (it is cloned, not consumed), or raw pixels.
 */
export type ImageInput = string | Uint8Array | Sharp | RawImageInput;

/** A decoded 8-bit RGB image. */
export interface RgbImage {
  /** RGB bytes, HWC row-major, length `width·height·3`. */
  data: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

let sharpPromise: Promise<SharpConstructor> | undefined;

/** Import sharp once, on first use. */
export function loadSharp(): Promise<SharpConstructor> {
  sharpPromise ??= import('sharp').then((m) => m.default);
  return sharpPromise;
}

/** Image container formats recognised from their first bytes. */
export type ImageFormat = 'png' | 'jpeg' | 'webp' | 'gif' | 'tiff' | 'avif';

/** Recognise an encoded image from its magic bytes (undefined when unknown). */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  const b = (i: number): number => bytes[i] ?? -1;
  const ascii = (from: number, text: string): boolean => [...text].every((ch, i) => b(from + i) === ch.charCodeAt(0));
  if (b(0) === 0x89 && ascii(1, 'PNG')) return 'png';
  if (b(0) === 0xff && b(1) === 0xd8 && b(2) === 0xff) return 'jpeg';
  if (ascii(0, 'RIFF') && ascii(8, 'WEBP')) return 'webp';
  if (ascii(0, 'GIF8')) return 'gif';
  if ((ascii(0, 'II') && b(2) === 42 && b(3) === 0) || (ascii(0, 'MM') && b(2) === 0 && b(3) === 42)) return 'tiff';
  if (ascii(4, 'ftyp') && (ascii(8, 'avif') || ascii(8, 'avis'))) return 'avif';
  return undefined;
}

function isSharp(input: unknown): input is Sharp {
  const s = input as Partial<Sharp> | null;
  return typeof s === 'object' && s !== null && typeof s.clone === 'function' && typeof s.toBuffer === 'function' && typeof s.metadata === 'function';
}

function isRaw(input: unknown): input is RawImageInput {
  const r = input as Partial<RawImageInput> | null;
  return typeof r === 'object' && r !== null && 'data' in r && 'width' in r && 'height' in r;
}

/** Round half to even, as NumPy does. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Short human description of an input for error messages. */
export function describeImageInput(input: ImageInput): string {
  if (typeof input === 'string') return input;
  if (input instanceof Uint8Array) return `${input.constructor.name}(${input.byteLength} bytes)`;
  if (isSharp(input)) return 'sharp instance';
  if (isRaw(input)) return `raw ${input.width}×${input.height}`;
  return typeof input;
}

function decodeRaw(input: RawImageInput, index: number): RgbImage {
  const { width, height, data } = input;
  const source = describeImageInput(input);
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new ClipRewardError('CLIP_INVALID_ARGUMENT', `image ${index} (${source}): width and height must be non-negative integers`);
  }
  if (width === 0 || height === 0) throw new ImageInputError('CLIP_ZERO_SIZE_IMAGE', index, source, 'image has zero width or height');
  const pixels = width * height;
  const channels = input.channels ?? data.length / pixels;
  if (![1, 3, 4].includes(channels) || data.length !== pixels * channels) {
    throw new ClipRewardError(
      'CLIP_INVALID_ARGUMENT',
      `image ${index} (${source}): data has ${data.length} values; expected width·height·channels with 1, 3 or 4 channels`,
    );
  }
  const isFloat = data instanceof Float32Array || data instanceof Float64Array;
  const byte = (i: number): number => {
    const v = data[i]!;
    if (!isFloat) return v;
    if (Number.isNaN(v)) throw new ClipRewardError('CLIP_INVALID_ARGUMENT', `image ${index} (${source}): pixel value NaN at ${i}`);
    return Math.min(255, Math.max(0, roundHalfEven(Math.fround(v * 255))));
  };
  const out = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    if (channels === 1) {
      const g = byte(p);
      out[p * 3] = g;
      out[p * 3 + 1] = g;
      out[p * 3 + 2] = g;
    } else if (channels === 3) {
      out[p * 3] = byte(p * 3);
      out[p * 3 + 1] = byte(p * 3 + 1);
      out[p * 3 + 2] = byte(p * 3 + 2);
    } else {
      const a = byte(p * 4 + 3);
      for (let c = 0; c < 3; c++) out[p * 3 + c] = Math.round((byte(p * 4 + c) * a + 255 * (255 - a)) / 255);
    }
  }
  return { data: out, width, height };
}

async function decodeWithSharp(pipeline: Sharp, index: number, source: string, corruptCode: 'CLIP_CORRUPT_IMAGE'): Promise<RgbImage> {
  try {
    const { data, info } = await pipeline
      .flatten({ background: { r: 255, g: 255, b: 255 } })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
    if (info.width === 0 || info.height === 0) throw new ImageInputError('CLIP_ZERO_SIZE_IMAGE', index, source, 'image has no pixels');
    if (info.channels === 3) return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
    return decodeRaw({ data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height }, index);
  } catch (cause) {
    if (ClipRewardError.isInstance(cause)) throw cause;
    throw new ImageInputError(corruptCode, index, source, `cannot decode: ${(cause as Error).message}`, { cause });
  }
}

/** Decode encoded image bytes to RGB. Throws {@link ImageInputError} for empty, unknown or corrupt bytes. */
export async function decodeImageBytes(bytes: Uint8Array, index = 0, source = describeImageInput(bytes)): Promise<RgbImage> {
  if (bytes.byteLength === 0) throw new ImageInputError('CLIP_CORRUPT_IMAGE', index, source, 'no bytes');
  const format = sniffImageFormat(bytes);
  if (!format) {
    const head = [...bytes.subarray(0, 8)].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    throw new ImageInputError(
      'CLIP_UNSUPPORTED_IMAGE',
      index,
      source,
      `unrecognised image format (first bytes ${head}); expected PNG, JPEG or WebP (GIF, TIFF, AVIF also accepted)`,
    );
  }
  const sharp = await loadSharp();
  return decodeWithSharp(sharp(bytes, { failOn: 'warning' }), index, source, 'CLIP_CORRUPT_IMAGE');
}

/** Decode any {@link ImageInput} to 8-bit RGB. `index` is used in error messages. */
export async function decodeImage(input: ImageInput, index = 0): Promise<RgbImage> {
  if (typeof input === 'string') {
    const { readFile } = await import('node:fs/promises');
    let bytes: Uint8Array;
    try {
      bytes = await readFile(input);
    } catch (cause) {
      throw new ClipRewardError('CLIP_INVALID_ARGUMENT', `image ${index}: cannot read file ${input}: ${(cause as Error).message}`, { cause });
    }
    return decodeImageBytes(bytes, index, input);
  }
  if (input instanceof Uint8Array) return decodeImageBytes(input, index);
  if (isSharp(input)) return decodeWithSharp(input.clone(), index, 'sharp instance', 'CLIP_CORRUPT_IMAGE');
  if (isRaw(input)) return decodeRaw(input, index);
  throw new ClipRewardError(
    'CLIP_INVALID_ARGUMENT',
    `image ${index}: expected a file path, encoded bytes, a sharp instance or { data, width, height }, got ${input === null ? 'null' : typeof input}`,
  );
}
