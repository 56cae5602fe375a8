import { describe, expect, it } from 'vitest';
import { describeWebgpuProbe, probeWebgpuAdapter, type ProbeRunResult } from './webgpu-probe.js';

const stub = (result: ProbeRunResult) => async () => result;
const LAVAPIPE_STDERR = 'Warning: maxDynamicUniformBuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n';

describe('probeWebgpuAdapter (stubbed child process)', () => {
  it('classifies the adapter the child reports and keeps its stderr for DEBUG', async () => {
    const probe = await probeWebgpuAdapter({
      runner: stub({
        status: 0,
        stdout: `${JSON.stringify({ found: true, info: { vendor: 'mesa', architecture: 'software', description: 'llvmpipe: Mesa 25.0.7', isFallbackAdapter: true } })}\n`,
        stderr: LAVAPIPE_STDERR,
      }),
    });
    expect(probe).toMatchObject({ status: 'software', reason: 'info.isFallbackAdapter is true', stderr: LAVAPIPE_STDERR });
    expect(describeWebgpuProbe(probe)).toBe('software adapter mesa software llvmpipe: Mesa 25.0.7 (info.isFallbackAdapter is true)');
  });

  it('reports a hardware adapter', async () => {
    const probe = await probeWebgpuAdapter({ runner: stub({ status: 0, stdout: '{"found":true,"info":{"vendor":"nvidia","architecture":"hopper","description":"NVIDIA H100"}}\n', stderr: '' }) });
    expect(probe.status).toBe('hardware');
    expect(describeWebgpuProbe(probe)).toBe('hardware adapter nvidia hopper NVIDIA H100');
  });

  it('reports no adapter, a crash and unreadable output with their reasons', async () => {
    expect(await probeWebgpuAdapter({ runner: stub({ status: 0, stdout: '{"found":false}\n', stderr: '' }) })).toMatchObject({ status: 'none' });
    const crashed = await probeWebgpuAdapter({ runner: stub({ status: 134, stdout: '', stderr: 'Warning: x\nError: vkCreateInstance failed\n' }) });
    expect(crashed).toMatchObject({ status: 'unavailable', reason: 'the WebGPU probe failed (exit 134): Error: vkCreateInstance failed' });
    expect(await probeWebgpuAdapter({ runner: stub({ status: 0, stdout: '{oops\n', stderr: '' }) })).toMatchObject({ status: 'unavailable' });
  });

  it('says the webgpu package is missing when it cannot be resolved', async () => {
    const probe = await probeWebgpuAdapter({ resolveFrom: ['/nonexistent/package.json'], fresh: true });
    expect(probe).toMatchObject({ status: 'unavailable' });
    expect(probe.status === 'unavailable' && probe.reason).toMatch(/optional webgpu package is not installed/u);
  });
});
