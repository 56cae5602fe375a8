import { describe, expect, it } from 'vitest';
import { DeviceError } from './errors.js';
import { DeviceUnavailableError, selectDevice, shortReason } from './select-device.js';

describe('selectDevice', () => {
  it('skips ruled-out candidates, tries the rest in order and explains the decision', async () => {
    const tried: string[] = [];
    const result = await selectDevice({
      what: 'diffusion unet',
      requested: 'auto',
      candidates: [
        { device: 'cuda', skip: 'the CUDA provider is not installed (no libonnxruntime_providers_cuda.so): install it' },
        { device: 'webgpu' },
        { device: 'cpu' },
      ],
      attempt: async (device) => {
        tried.push(device);
        if (device === 'webgpu') throw new Error('Failed to get a WebGPU adapter\nmore');
        return { value: 42, detail: '2 threads' };
      },
    });
    expect(tried).toEqual(['webgpu', 'cpu']);
    expect(result.value).toBe(42);
    expect(result.decision.summary).toBe('diffusion unet: cpu (auto; not cuda: the CUDA provider is not installed, webgpu: Failed to get a WebGPU adapter)');
    expect(result.decision.detail).toBe(
      'diffusion unet: cpu (auto, 2 threads); cuda skipped: the CUDA provider is not installed (no libonnxruntime_providers_cuda.so): install it; webgpu failed: Failed to get a WebGPU adapter',
    );
  });

  it('throws DeviceUnavailableError listing every reason when nothing initialises', async () => {
    const error = await selectDevice({
      what: 'clip',
      requested: 'cuda',
      candidates: [{ device: 'cuda', skip: 'the CUDA provider needs libcublasLt.so.12' }],
      attempt: async () => ({ value: 1 }),
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DeviceUnavailableError);
    expect(DeviceError.isInstance(error)).toBe(true);
    expect((error as Error).message).toBe('clip: no usable device for "cuda": cuda: the CUDA provider needs libcublasLt.so.12');
  });

  it('rethrows fatal errors (a missing model file) without trying further devices', async () => {
    const tried: string[] = [];
    await expect(
      selectDevice({
        what: 'clip',
        requested: 'auto',
        candidates: [{ device: 'webgpu' }, { device: 'cpu' }],
        attempt: async (device) => {
          tried.push(device);
          throw new Error('ENOENT model.onnx');
        },
        isFatal: (error) => /ENOENT/u.test((error as Error).message),
      }),
    ).rejects.toThrow('ENOENT model.onnx');
    expect(tried).toEqual(['webgpu']);
  });

  it('shortReason keeps the clause before the details', () => {
    expect(shortReason('software adapter mesa software llvmpipe (info.isFallbackAdapter is true): auto takes hardware adapters only')).toBe('software adapter mesa software llvmpipe');
    expect(shortReason('x'.repeat(80))).toHaveLength(58);
  });
});
