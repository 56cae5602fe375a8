import { describe, expect, it } from 'vitest';
import type { CudaProviderStatus } from './cuda-provider.js';
import { onnxAutoOrder, planOnnxDevices, type OnnxHost } from './onnx-devices.js';
import type { WebgpuProbe } from './webgpu-probe.js';

const hardware: WebgpuProbe = { status: 'hardware', label: 'nvidia hopper NVIDIA H100', reason: 'no software-adapter signal', info: {}, stderr: '' };
const software: WebgpuProbe = { status: 'software', label: 'mesa software llvmpipe', reason: 'info.isFallbackAdapter is true', info: {}, stderr: '' };
const noAdapter: WebgpuProbe = { status: 'none', reason: 'requestAdapter() returned null', stderr: '' };
const cudaMissing: CudaProviderStatus = { installed: false, ready: false, missingLibraries: [], reason: 'the CUDA provider is not installed' };
const cudaReady: CudaProviderStatus = { installed: true, ready: true, missingLibraries: [], reason: 'ok' };

function host(overrides: Partial<OnnxHost> & { probe?: WebgpuProbe; cudaStatus?: CudaProviderStatus } = {}): OnnxHost & { probes: () => number } {
  let probes = 0;
  return {
    platform: 'linux',
    arch: 'x64',
    backends: [
      { name: 'cpu', bundled: true },
      { name: 'webgpu', bundled: true },
      { name: 'cuda', bundled: false },
    ],
    cuda: () => overrides.cudaStatus ?? cudaMissing,
    webgpu: async () => {
      probes += 1;
      return overrides.probe ?? noAdapter;
    },
    probes: () => probes,
    ...overrides,
  };
}

describe('onnxAutoOrder', () => {
  it('is documented per platform', () => {
    expect(onnxAutoOrder('linux', 'x64')).toEqual(['cuda', 'webgpu', 'cpu']);
    expect(onnxAutoOrder('darwin', 'arm64')).toEqual(['webgpu', 'coreml', 'cpu']);
    expect(onnxAutoOrder('darwin', 'x64')).toEqual(['webgpu', 'coreml', 'cpu']);
    expect(onnxAutoOrder('win32', 'x64')).toEqual(['webgpu', 'cpu']);
    expect(onnxAutoOrder('linux', 'arm64')).toEqual(['webgpu', 'cpu']);
  });
});

describe('planOnnxDevices', () => {
  it('auto on Linux x64 takes CUDA where its provider is ready, and a hardware WebGPU adapter', async () => {
    expect(await planOnnxDevices('auto', host({ cudaStatus: cudaReady, probe: hardware }))).toEqual([{ device: 'cuda' }, { device: 'webgpu' }, { device: 'cpu' }]);
  });

  it('auto skips a missing CUDA provider and a software adapter, saying why', async () => {
    const plan = await planOnnxDevices('auto', host({ probe: software }));
    expect(plan[0]).toEqual({ device: 'cuda', skip: 'the CUDA provider is not installed' });
    expect(plan[1]!.device).toBe('webgpu');
    expect(plan[1]!.skip).toBe('software adapter mesa software llvmpipe (info.isFallbackAdapter is true): auto takes hardware adapters only (ask for webgpu to use it)');
    expect(plan[2]).toEqual({ device: 'cpu' });
    expect((await planOnnxDevices('auto', host()))[1]!.skip).toBe('no WebGPU adapter: requestAdapter() returned null');
  });

  it('an explicit webgpu takes whatever adapter exists, without probing', async () => {
    const h = host({ probe: software });
    expect(await planOnnxDevices('webgpu', h)).toEqual([{ device: 'webgpu' }]);
    expect(await planOnnxDevices('webgpu', h, { fallbackToCpu: true })).toEqual([{ device: 'webgpu' }, { device: 'cpu' }]);
    expect(h.probes()).toBe(0);
  });

  it('an explicit cuda without its provider is ruled out with the install reason', async () => {
    expect(await planOnnxDevices('cuda', host())).toEqual([{ device: 'cuda', skip: 'the CUDA provider is not installed' }]);
  });

  it('macOS: WebGPU on Metal, then Core ML, then CPU', async () => {
    const mac = host({
      platform: 'darwin',
      arch: 'arm64',
      probe: { ...hardware, label: 'apple metal-3 Apple M3' },
      backends: [
        { name: 'cpu', bundled: true },
        { name: 'webgpu', bundled: true },
        { name: 'coreml', bundled: true },
      ],
    });
    expect(await planOnnxDevices('auto', mac)).toEqual([{ device: 'webgpu' }, { device: 'coreml' }, { device: 'cpu' }]);
    const noGpu = await planOnnxDevices('auto', { ...mac, webgpu: async () => noAdapter });
    expect(noGpu.map((entry) => [entry.device, entry.skip === undefined])).toEqual([
      ['webgpu', false],
      ['coreml', true],
      ['cpu', true],
    ]);
  });

  it('skips a provider missing from the onnxruntime-node build', async () => {
    const plan = await planOnnxDevices('auto', host({ platform: 'darwin', arch: 'arm64', probe: hardware, backends: [{ name: 'cpu', bundled: true }, { name: 'webgpu', bundled: true }] }));
    expect(plan[1]).toEqual({ device: 'coreml', skip: 'not in this onnxruntime-node build for darwin/arm64 (it has cpu, webgpu)' });
  });

  it('rejects an unknown device naming the accepted ones', async () => {
    await expect(planOnnxDevices('metal' as never, host())).rejects.toThrow('device "metal": expected one of auto, cpu, webgpu, cuda, coreml');
  });
});
