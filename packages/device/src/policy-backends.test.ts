import { describe, expect, it } from 'vitest';
import { planPolicyBackends } from './policy-backends.js';
import type { WebgpuProbe } from './webgpu-probe.js';

const probe = (value: WebgpuProbe) => ({ webgpu: async () => value });

describe('planPolicyBackends', () => {
  it('auto tries WebGPU only on a hardware adapter', async () => {
    const hw = await planPolicyBackends('auto', probe({ status: 'hardware', label: 'apple metal-3 Apple M2', reason: '', info: {}, stderr: '' }));
    expect(hw).toEqual([{ device: 'tensorflow' }, { device: 'webgpu' }, { device: 'wasm' }, { device: 'cpu' }]);
    const sw = await planPolicyBackends('auto', probe({ status: 'software', label: 'mesa software llvmpipe', reason: 'info.isFallbackAdapter is true', info: {}, stderr: '' }));
    expect(sw[1]!.skip).toMatch(/^software adapter mesa software llvmpipe .*hardware adapters only/u);
    const none = await planPolicyBackends('auto', probe({ status: 'unavailable', reason: 'the optional webgpu package is not installed', stderr: '' }));
    expect(none[1]).toEqual({ device: 'webgpu', skip: 'no WebGPU adapter: the optional webgpu package is not installed' });
  });

  it('an explicit backend is tried alone, webgpu without probing', async () => {
    let probed = false;
    const plan = await planPolicyBackends('webgpu', {
      webgpu: async () => {
        probed = true;
        return { status: 'software', label: '', reason: '', info: {}, stderr: '' };
      },
    });
    expect(plan).toEqual([{ device: 'webgpu' }]);
    expect(probed).toBe(false);
    await expect(planPolicyBackends('gpu' as never, probe({ status: 'none', reason: '', stderr: '' }))).rejects.toThrow('backend "gpu": expected auto, tensorflow, webgpu, wasm, cpu');
  });
});
