import { describe, expect, it } from 'vitest';
import { runCli } from '../cli.js';
import { formatDoctorReport, runDoctor } from './doctor.js';

describe('doctor', () => {
  it('probes every provider and backend, CPU works, and auto is the first that works', async () => {
    const report = await runDoctor();
    expect(report.onnxruntime.map((p) => p.name)).toEqual(['onnxruntime cuda', 'onnxruntime webgpu', 'onnxruntime cpu']);
    expect(report.tfjs.map((p) => p.name)).toEqual(['tfjs tensorflow', 'tfjs webgpu', 'tfjs wasm', 'tfjs cpu']);
    expect(report.onnxruntime[2]).toMatchObject({ ok: true, detail: expect.stringMatching(/ran in \d+ ms/u) });
    expect(report.tfjs[3]!.ok).toBe(true);
    for (const probe of [...report.onnxruntime, report.webgpu, ...report.tfjs]) expect(probe.detail.length).toBeGreaterThan(0);
    // auto: the first that works, except that a software WebGPU adapter (lavapipe) is never auto's
    const software = /^software adapter/u.test(report.webgpu.detail);
    const usable = (name: string) => !(software && name.endsWith(' webgpu'));
    expect(report.auto.onnxruntime).toBe(report.onnxruntime.find((p) => p.ok && usable(p.name))!.name.replace('onnxruntime ', ''));
    expect(report.auto.policy).toBe(report.tfjs.find((p) => p.ok && usable(p.name))!.name.replace('tfjs ', ''));
    if (software) expect(report.webgpu.detail).toMatch(/auto skips it, --device webgpu uses it$/u);
    // where the GPU is missing, its probes say so instead of passing
    if (!report.webgpu.ok) expect(report.onnxruntime[1]!.ok).toBe(false);
    // the CUDA provider is checked from its files: when absent, how to install it
    if (!report.onnxruntime[0]!.ok) expect(report.onnxruntime[0]!.detail).toMatch(/CUDA provider|libcu|CUDA device|driver/u);
  }, 60_000);

  it('names a missing probe model instead of crashing', async () => {
    const report = await runDoctor({ probeModel: '/nonexistent/vision_model.onnx' });
    expect(report.onnxruntime[2]).toMatchObject({ ok: false, detail: 'probe model missing: /nonexistent/vision_model.onnx' });
    expect(formatDoctorReport(report)).toContain('no   onnxruntime cpu');
  }, 60_000);

  it('is a CLI command that exits 0 and prints the auto choice', async () => {
    let out = '';
    const code = await runCli(['doctor'], { stdout: { write: (text: string) => (out += text) }, stderr: { write: () => true } });
    expect(code).toBe(0);
    expect(out).toMatch(/ok {3}onnxruntime cpu/u);
    expect(out).toMatch(/device auto → ONNX Runtime: (cuda|webgpu|cpu); policy_tfjs_backend auto → (tensorflow|webgpu|wasm|cpu)/u);
  }, 60_000);
});
