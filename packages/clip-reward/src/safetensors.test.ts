import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ClipRewardError, SafetensorsError } from './errors.js';
import { SafetensorsFile, encodeSafetensors, readSafetensorsTensor } from './safetensors.js';

/** Build a file byte by byte, independently of encodeSafetensors. */
function handMade(header: object, data: number[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  it('decodes F32, F16, BF16 and F64 tensors from hand-made bytes', () => {
    const f32 = [...new Uint8Array(new Float32Array([1.5, -2]).buffer)];
    const f16 = [0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00]; // 1, -2, smallest subnormal 2^-24
    const bf16 = [0x80, 0x3f, 0x40, 0xc0]; // 1, -3
    const f64 = [...new Uint8Array(new Float64Array([0.25]).buffer)];
    const bytes = handMade(
      {
        __metadata__: { format: 'pt' },
        a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
        h: { dtype: 'F16', shape: [3], data_offsets: [8, 14] },
        b: { dtype: 'BF16', shape: [2], data_offsets: [14, 18] },
        d: { dtype: 'F64', shape: [], data_offsets: [18, 26] },
      },
      [...f32, ...f16, ...bf16, ...f64],
    );
    const file = SafetensorsFile.fromBytes(bytes);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(file.names()).toEqual(['a', 'h', 'b', 'd']);
    expect([...file.getFloat32('a')]).toEqual([1.5, -2]);
    expect([...file.getFloat32('h')]).toEqual([1, -2, Math.fround(2 ** -24)]);
    expect([...file.getFloat32('b')]).toEqual([1, -3]);
    expect([...file.getFloat32('d')]).toEqual([0.25]);
    expect(file.info('a')).toMatchObject({ dtype: 'F32', shape: [2], byteLength: 8 });
  });

  it('round-trips encodeSafetensors and pads the header to 8 bytes', () => {
    const bytes = encodeSafetensors({ w: { data: [1, 2, 3, 4, 5, 6], shape: [2, 3] }, s: { data: [7], shape: [] } }, { note: 'x' });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + n) % 8).toBe(0);
    const file = SafetensorsFile.fromBytes(bytes);
    expect([...file.getFloat32('w')]).toEqual([1, 2, 3, 4, 5, 6]);
    expect(file.info('w')!.shape).toEqual([2, 3]);
    expect([...file.getFloat32('s')]).toEqual([7]);
  });

  it('reads one tensor from a file without loading the rest (logit_scale of the fixture)', async () => {
    const path = fileURLToPath(new URL('../../../data/models/tiny-clip/model.safetensors', import.meta.url));
    const t = await readSafetensorsTensor(path, 'logit_scale');
    expect(t!.shape).toEqual([]);
    expect(Math.exp(t!.data[0]!)).toBeCloseTo(14.284855842590332, 5);
    expect(await readSafetensorsTensor(path, 'no_such_tensor')).toBeUndefined();
  });

  it('rejects malformed files with a typed error naming the problem', async () => {
    const bad = (bytes: Uint8Array, pattern: RegExp): void => {
      let caught: unknown;
      try {
        SafetensorsFile.fromBytes(bytes, 'x.safetensors');
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(SafetensorsError);
      expect(ClipRewardError.isInstance(caught) && caught.code).toBe('CLIP_INVALID_SAFETENSORS');
      expect((caught as Error).message).toMatch(pattern);
    };
    bad(new Uint8Array(4), /shorter than/);
    bad(handMade({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, [0, 0, 0, 0]), /past the end/);
    bad(handMade({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Array(8).fill(0)), /needs 12/);
    bad(handMade({ a: { dtype: 'Q9', shape: [1], data_offsets: [0, 1] } }, [0]), /unknown or missing dtype/);
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 1000n, true);
    bad(huge, /does not fit/);
    const dir = mkdtempSync(join(tmpdir(), 'st-'));
    writeFileSync(join(dir, 'i.safetensors'), handMade({ i: { dtype: 'I32', shape: [1], data_offsets: [0, 4] } }, [1, 0, 0, 0]));
    const file = await SafetensorsFile.read(join(dir, 'i.safetensors'));
    expect(() => file.getFloat32('i')).toThrow(/not a floating type/);
    expect(() => file.getFloat32('zzz')).toThrow(/has no tensor "zzz"/);
  });
});
