import * as tf from '@tensorflow/tfjs';
import { probeWebgpuAdapter } from '@vlm-grpo/device';
import { describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';
import { VlmError } from './errors.js';

describe('initBackend', () => {
  it('explains why tensorflow (tfjs-node) is unavailable and auto falls back to a working backend', async () => {
    const error = await initBackend('tensorflow').catch((e: unknown) => e);
    expect(VlmError.isInstance(error) && error.code).toBe('VLM_BACKEND_UNAVAILABLE');
    expect((error as Error).message).toMatch(/tensorflow: not installed \(@tensorflow\/tfjs-node-gpu and @tensorflow\/tfjs-node are optional peers\)/u);
    const lines: string[] = [];
    const report = await initBackend('auto', { logger: (line) => lines.push(line) });
    // auto takes WebGPU only on a hardware adapter: lavapipe (CI, this build machine) means wasm
    const probe = await probeWebgpuAdapter();
    expect(report.backend).toBe(probe.status === 'hardware' ? 'webgpu' : 'wasm');
    expect(report.skipped[0]!.backend).toBe('tensorflow');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^\\[vlm\\] backend: ${report.backend} \\(auto; not tensorflow: not installed`, 'u'));
    if (probe.status === 'software') expect(lines[0]).toContain('webgpu: software adapter');
    expect(report.decision.detail).toContain('tensorflow failed: not installed');
    expect(tf.getBackend()).toBe(report.backend);
  });

  it('switches to cpu and wasm on request and rejects unknown names', async () => {
    expect((await initBackend('cpu')).backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    expect((await initBackend('wasm')).backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    const error = await initBackend('gpu' as never).catch((e: unknown) => e);
    expect(VlmError.isInstance(error) && error.code).toBe('VLM_INVALID_ARGUMENT');
  });

  it('reports a missing WebGPU adapter as unavailable (or initialises webgpu where a GPU exists)', async () => {
    const result = await initBackend('webgpu').then(
      (report) => report.backend,
      (error: unknown) => (VlmError.isInstance(error) ? error.code : String(error)),
    );
    expect(['webgpu', 'VLM_BACKEND_UNAVAILABLE']).toContain(result);
    await initBackend('wasm');
  });
});
