import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { ClipRewardError, ImageInputError } from './errors.js';
import { decodeImage, sniffImageFormat } from './image-input.js';

const png0 = fileURLToPath(new URL('./__fixtures__/tiny-clip/ref_image_0.png', import.meta.url));

async function code(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (error) {
    return ClipRewardError.isInstance(error) ? error.code : `other: ${(error as Error).message}`;
  }
  return undefined;
}

describe('decodeImage', () => {
  it('decodes a path, a Buffer and a sharp instance to the same RGB pixels', async () => {
    const fromPath = await decodeImage(png0);
    expect([fromPath.width, fromPath.height, fromPath.data.length]).toEqual([64, 48, 64 * 48 * 3]);
    const fromBuffer = await decodeImage(readFileSync(png0));
    const instance = sharp(png0);
    const fromSharp = await decodeImage(instance);
    expect(fromBuffer).toEqual(fromPath);
    expect(fromSharp).toEqual(fromPath);
    // The instance was cloned, not consumed.
    expect((await instance.metadata()).width).toBe(64);
  });

  it('decodes JPEG and WebP bytes (lossless WebP exactly)', async () => {
    const ref = await decodeImage(png0);
    const webp = await sharp(png0).webp({ lossless: true }).toBuffer();
    expect(sniffImageFormat(webp)).toBe('webp');
    expect(await decodeImage(webp)).toEqual(ref);
    const jpeg = await sharp(png0).jpeg({ quality: 95 }).toBuffer();
    expect(sniffImageFormat(jpeg)).toBe('jpeg');
    const j = await decodeImage(jpeg);
    expect([j.width, j.height]).toEqual([64, 48]);
  });

  it('accepts raw RGB, RGBA (composited over white), grey and float [0, 1] pixels', async () => {
    const rgb = { data: new Uint8Array([10, 20, 30, 200, 100, 0]), width: 2, height: 1 };
    expect(await decodeImage(rgb)).toEqual({ data: new Uint8Array([10, 20, 30, 200, 100, 0]), width: 2, height: 1 });
    const rgba = { data: new Uint8Array([10, 20, 30, 255, 0, 0, 0, 0, 100, 100, 100, 128]), width: 3, height: 1 };
    // alpha 255 keeps the colour, alpha 0 gives white, alpha 128: round((100·128 + 255·127)/255) = 177
    expect([...(await decodeImage(rgba)).data]).toEqual([10, 20, 30, 255, 255, 255, 177, 177, 177]);
    expect([...(await decodeImage({ data: new Uint8Array([7, 9]), width: 1, height: 2 })).data]).toEqual([7, 7, 7, 9, 9, 9]);
    // 0.5·255 = 127.5 rounds half to even → 128; 0.002·255 = 0.51 → 1
    const f = { data: new Float32Array([0, 0.5, 1, 0.002, 1.2, -1]), width: 2, height: 1 };
    expect([...(await decodeImage(f)).data]).toEqual([0, 128, 255, 1, 255, 0]);
  });

  it('raises typed errors for corrupt, unsupported, zero-size and malformed inputs', async () => {
    const bytes = readFileSync(png0);
    expect(await code(decodeImage(bytes.subarray(0, 40)))).toBe('CLIP_CORRUPT_IMAGE');
    expect(await code(decodeImage(new Uint8Array(0)))).toBe('CLIP_CORRUPT_IMAGE');
    expect(await code(decodeImage(new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>')))).toBe('CLIP_UNSUPPORTED_IMAGE');
    expect(await code(decodeImage({ data: new Uint8Array(0), width: 0, height: 5 }))).toBe('CLIP_ZERO_SIZE_IMAGE');
    expect(await code(decodeImage({ data: new Uint8Array(5), width: 2, height: 1 }))).toBe('CLIP_INVALID_ARGUMENT');
    expect(await code(decodeImage('/no/such/image.png'))).toBe('CLIP_INVALID_ARGUMENT');
    expect(await code(decodeImage(42 as never))).toBe('CLIP_INVALID_ARGUMENT');
    const err = await decodeImage(bytes.subarray(0, 40), 7).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ImageInputError);
    expect((err as ImageInputError).index).toBe(7);
    expect((err as Error).message).toMatch(/^image 7 \(Buffer\(40 bytes\)\): cannot decode/);
  });
});
