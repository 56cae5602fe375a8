import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetensorsError, VlmError } from './errors.js';
import {
  float16BitsToFloat,
  float32ToTensor,
  floatToBfloat16Bits,
  floatToFloat16Bits,
  parseSafetensors,
  readSafetensorsFile,
  serializeSafetensors,
  tensorToFloat32,
  writeSafetensorsFile,
} from './safetensors.js';

function withHeader(header: string, data: Uint8Array = new Uint8Array()): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function expectInvalid(bytes: Uint8Array, pattern: RegExp): void {
  let caught: unknown;
  try {
    parseSafetensors(bytes, 'x.safetensors');
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(SafetensorsError);
  expect(VlmError.isInstance(caught) && caught.code).toBe('VLM_SAFETENSORS_INVALID');
  expect((caught as Error).message).toMatch(/^x\.safetensors: /u);
  expect((caught as Error).message).toMatch(pattern);
}

describe('safetensors reader', () => {
  it('reads the Rust crate test vector (I32 [2,2], header 0x3c bytes)', () => {
    const header = '{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}';
    expect(header.length).toBe(0x3c);
    const parsed = parseSafetensors(withHeader(header, new Uint8Array(16)));
    const tensor = parsed.tensors.get('test')!;
    expect(tensor.dtype).toBe('I32');
    expect(tensor.shape).toEqual([2, 2]);
    expect(Array.from(tensorToFloat32(tensor))).toEqual([0, 0, 0, 0]);
    expect(parsed.metadata).toEqual({});
  });

  it('round-trips metadata, empty tensors, scalars and mixed dtypes, with 8-byte alignment', () => {
    const bytes = serializeSafetensors(
      {
        b: { dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0xc000, 0x7bff]) },
        a: { dtype: 'F32', shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
        empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
        scalar: { dtype: 'I64', shape: [], data: new BigInt64Array([-5n]) },
        flag: { dtype: 'BOOL', shape: [2], data: new Uint8Array([1, 0]) },
      },
      { format: 'pt', note: 'hello' },
    );
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(headerLength % 8).toBe(0);
    const headerText = new TextDecoder().decode(bytes.subarray(8, 8 + headerLength));
    expect(headerText.trimEnd().endsWith('}')).toBe(true);
    // Reference layout: larger alignment first, then by name: I64, F32 (a, empty), F16, BOOL.
    expect(Object.keys(JSON.parse(headerText)).filter((k) => k !== '__metadata__')).toEqual(['scalar', 'a', 'empty', 'b', 'flag']);
    const parsed = parseSafetensors(bytes);
    expect(parsed.metadata).toEqual({ format: 'pt', note: 'hello' });
    expect(Array.from(tensorToFloat32(parsed.tensors.get('a')!))).toEqual([1, 2, 3, 4]);
    expect(Array.from(tensorToFloat32(parsed.tensors.get('b')!))).toEqual([1, -2, 65504]);
    expect(parsed.tensors.get('empty')!.shape).toEqual([0, 4]);
    expect(tensorToFloat32(parsed.tensors.get('empty')!).length).toBe(0);
    expect(Array.from(tensorToFloat32(parsed.tensors.get('scalar')!))).toEqual([-5]);
    expect(Array.from(tensorToFloat32(parsed.tensors.get('flag')!))).toEqual([1, 0]);
  });

  it('reads tensors whose data is not aligned in memory (copying when needed)', () => {
    const header = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}'; // 55 bytes: data at offset 63
    const bytes = withHeader(header, new Uint8Array(new Float32Array([1.5, -2.25]).buffer));
    expect((8 + header.length) % 4).not.toBe(0);
    expect(Array.from(tensorToFloat32(parseSafetensors(bytes).tensors.get('x')!))).toEqual([1.5, -2.25]);
  });

  it('rejects corrupt files with a clear error', () => {
    expectInvalid(new Uint8Array(4), /shorter than the 8-byte header length/u);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 200_000_000n, true);
    expectInvalid(huge, /exceeds the 100000000-byte limit/u);
    const long = new Uint8Array(16);
    new DataView(long.buffer).setBigUint64(0, 64n, true);
    expectInvalid(long, /runs past the end/u);
    expectInvalid(withHeader('{"x": [1,'), /not valid UTF-8 JSON/u);
    expectInvalid(withHeader('[1,2]'), /must be a JSON object/u);
    expectInvalid(withHeader('{"x":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(4)), /unsupported dtype "F33"/u);
    expectInvalid(withHeader('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}', new Uint8Array(4)), /needs 8 bytes, data_offsets span 4/u);
    expectInvalid(
      withHeader('{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', new Uint8Array(8)),
      /start at 4, expected 0/u,
    );
    expectInvalid(
      withHeader('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(8)),
      /contiguous/u,
    );
    expectInvalid(withHeader('{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', new Uint8Array(6)), /cover 4 data bytes but the file holds 6/u);
    expectInvalid(withHeader('{"__metadata__":{"a":1}}'), /__metadata__\.a must be a string/u);
    expectInvalid(withHeader('{"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}}'), /non-negative integers/u);
  });

  it('writer refuses data whose size does not match dtype and shape', () => {
    expect(() => serializeSafetensors({ x: { dtype: 'F32', shape: [3], data: new Float32Array(2) } })).toThrow(/needs 12 bytes, received 8/u);
  });

  it('writes files atomically and reads them back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vlm-st-'));
    const path = join(dir, 'sub', 'w.safetensors');
    await writeSafetensorsFile(path, { w: float32ToTensor(new Float32Array([0.1, 0.2]), [2]) }, { format: 'pt' });
    const parsed = await readSafetensorsFile(path);
    expect(Array.from(tensorToFloat32(parsed.tensors.get('w')!))).toEqual([Math.fround(0.1), Math.fround(0.2)]);
    expect((await readFile(path)).byteLength).toBeGreaterThan(8);
    await rm(dir, { recursive: true, force: true });
  });
});

describe('half-precision conversions', () => {
  it('float16 encodes and decodes exactly representable values, subnormals, infinities and rounding', () => {
    for (const value of [0, 1, -2, 0.5, 65504, 2 ** -24, 2 ** -14, -0.0999755859375]) {
      expect(float16BitsToFloat(floatToFloat16Bits(value))).toBe(value);
    }
    expect(floatToFloat16Bits(1e6)).toBe(0x7c00);
    expect(floatToFloat16Bits(-Infinity)).toBe(0xfc00);
    expect(Number.isNaN(float16BitsToFloat(floatToFloat16Bits(Number.NaN)))).toBe(true);
    expect(float16BitsToFloat(floatToFloat16Bits(1 + 2 ** -11))).toBe(1); // tie → even
    expect(float16BitsToFloat(floatToFloat16Bits(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9); // tie → even (up)
  });

  it('bfloat16 keeps the float32 exponent and rounds the mantissa to nearest even', () => {
    const decode = (bits: number) => new Float32Array(new Uint32Array([bits << 16]).buffer)[0]!;
    for (const value of [1, -3.5, 2 ** 90, 2 ** -100]) expect(decode(floatToBfloat16Bits(value))).toBe(value);
    expect(decode(floatToBfloat16Bits(1 + 2 ** -8))).toBe(1);
    expect(decode(floatToBfloat16Bits(1 + 3 * 2 ** -8))).toBe(1 + 2 ** -6);
    const tensor = float32ToTensor(new Float32Array([1, 3.140625]), [2], 'BF16');
    expect(Array.from(tensorToFloat32({ dtype: 'BF16', shape: [2], data: new Uint8Array((tensor.data as Uint16Array).buffer) }))).toEqual([1, 3.140625]);
  });
});
