import { describe, expect, it } from 'vitest';
import { identityModelBytes, uploadToGpu } from './gpu-resident.js';

const ort = await import('onnxruntime-node');

describe('uploadToGpu', () => {
  it('builds a valid ONNX Identity graph of any rank and type (run on the CPU EP)', async () => {
    const values = Float32Array.from({ length: 24 }, (_, i) => i * 0.5 - 3);
    const out = await uploadToGpu(ort, new ort.Tensor('float32', values, [2, 3, 4]), 'cpu');
    expect(out.dims).toEqual([2, 3, 4]);
    expect(Array.from(out.data as Float32Array)).toEqual(Array.from(values));
    const ids = await uploadToGpu(ort, new ort.Tensor('int64', BigInt64Array.from([5n, -7n]), [2]), 'cpu');
    expect(Array.from(ids.data as BigInt64Array)).toEqual([5n, -7n]);
    // the graph declares symbolic dimensions: another shape of the same rank reuses the session
    const other = await uploadToGpu(ort, new ort.Tensor('float32', new Float32Array(6), [1, 2, 3]), 'cpu');
    expect(other.dims).toEqual([1, 2, 3]);
  });

  it('encodes the model deterministically (IR 8, opset 17, op Identity)', () => {
    const bytes = identityModelBytes(1, 2);
    expect(bytes[0]).toBe(0x08); // field 1 (ir_version), varint
    expect(bytes[1]).toBe(8);
    expect(Buffer.from(bytes).includes(Buffer.from('Identity'))).toBe(true);
    expect(identityModelBytes(1, 2)).toEqual(bytes);
  });

  it('rejects element types it cannot upload', async () => {
    await expect(uploadToGpu(ort, new ort.Tensor('bool', Uint8Array.from([1]), [1]), 'cpu')).rejects.toThrow(/unsupported element type bool/u);
  });
});
