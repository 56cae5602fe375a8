import { describe, expect, it } from 'vitest';
import { fromFloat16 } from './numeric.js';
import { buildFloatTensor, buildIdsTensor, buildTimestepTensor, loadOrt } from './onnx-session.js';
import type { TensorInfo } from './onnx-session.js';

const info = (type: TensorInfo['type'], shape: TensorInfo['shape']): TensorInfo => ({ name: 'x', type, shape });

describe('tensors built from inputMetadata', () => {
  it('timestep: int64 [batch], [1], scalar float, float16', async () => {
    const ort = await loadOrt();
    const a = buildTimestepTensor(ort, 'unet', info('int64', ['steps']), 999.7, 2);
    expect([a.type, a.dims, [...(a.data as BigInt64Array)]]).toEqual(['int64', [2], [999n, 999n]]);
    const b = buildTimestepTensor(ort, 'unet', info('int64', [1]), 751, 2);
    expect([b.dims, [...(b.data as BigInt64Array)]]).toEqual([[1], [751n]]);
    const c = buildTimestepTensor(ort, 'unet', info('float32', []), 946.42105, 2);
    expect([c.dims, (c.data as Float32Array)[0]]).toEqual([[], Math.fround(946.42105)]);
    const d = buildTimestepTensor(ort, 'transformer', info('float16', ['batch_size']), 1000, 2);
    expect([d.type, d.dims, [...fromFloat16(d.data as Uint16Array)]]).toEqual(['float16', [2], [1000, 1000]]);
    const e = buildTimestepTensor(ort, 'unet', info('int32', ['b']), 5.9, 1);
    expect([...(e.data as Int32Array)]).toEqual([5]);
    expect(() => buildTimestepTensor(ort, 'unet', info('string', []), 1, 1)).toThrow(/unsupported type string/);
  });

  it('latents in fp16 or fp32, ids in int32 or int64', async () => {
    const ort = await loadOrt();
    const lat = new Float32Array([0.5, -1.25, 3]);
    const h = buildFloatTensor(ort, 'unet', info('float16', ['b', 3]), lat, [1, 3]);
    expect([h.type, [...fromFloat16(h.data as Uint16Array)]]).toEqual(['float16', [0.5, -1.25, 3]]);
    expect(buildFloatTensor(ort, 'unet', info('float32', ['b', 3]), lat, [1, 3]).data).toBe(lat);
    expect(() => buildFloatTensor(ort, 'unet', info('int64', []), lat, [3])).toThrow(/expected a float type/);
    const i64 = buildIdsTensor(ort, 'te', info('int64', ['b', 's']), [[49406, 320, 49407]]);
    expect([i64.type, i64.dims, [...(i64.data as BigInt64Array)]]).toEqual(['int64', [1, 3], [49406n, 320n, 49407n]]);
    const i32 = buildIdsTensor(ort, 'te', info('int32', ['b', 's']), [[1, 2], [3, 4]]);
    expect([i32.type, i32.dims, [...(i32.data as Int32Array)]]).toEqual(['int32', [2, 2], [1, 2, 3, 4]]);
  });
});

describe('device auto (the plan of @vlm-grpo/device)', () => {
  it('never takes a software WebGPU adapter, decides once per component and logs one summary line', async () => {
    const { probeWebgpuAdapter, cudaProviderStatus } = await import('@vlm-grpo/device');
    const { OnnxModel } = await import('./onnx-session.js');
    const { tinySdModelDir } = await import('./__fixtures__/golden.js');
    const { join } = await import('node:path');
    const logs: string[] = [];
    // (rewritten-copy lines, logged once per copy and process, are not this test's subject)
    const settings = { device: 'auto' as const, logger: (_level: 'info' | 'warn', message: string) => void (message.includes('running the copy') || logs.push(message)) };
    const path = join(tinySdModelDir, 'vae_decoder', 'model.onnx');
    const first = await OnnxModel.load(path, 'vae_decoder', settings);
    const probe = await probeWebgpuAdapter();
    const expected = cudaProviderStatus().ready ? 'cuda' : probe.status === 'hardware' ? 'webgpu' : 'cpu';
    expect(first.device).toBe(expected);
    expect(logs[0]).toMatch(new RegExp(`^diffusion vae_decoder: ${expected} \\(auto`, 'u'));
    if (probe.status === 'software') expect(logs[0]).toContain('webgpu: software adapter');
    expect(logs[1]).toMatch(/^details: diffusion vae_decoder: /u);
    const again = await OnnxModel.load(path, 'vae_decoder', settings);
    expect(again.device).toBe(expected);
    expect(logs).toHaveLength(2);
    await Promise.all([first.release(), again.release()]);
  });
});
