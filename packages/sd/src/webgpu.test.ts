/**
 * The WebGPU execution provider of onnxruntime-node against diffusers' reference outputs for the
 * tiny SD 1.x model (the same values as the CPU golden tests, to 1e-3). Skipped where no WebGPU
 * adapter initialises, except in CI (`CI` set), where .ci/run installs Mesa's lavapipe and a
 * missing adapter fails the file; for speed, run on a GPU machine with tools/device (see
 * BENCHMARKS.md).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { GenerateOptions, StepInfo } from './pipeline-base.js';
import type { EulerDiscreteScheduler } from './scheduler-euler.js';
import { createScheduler } from './scheduler-factory.js';
import { SD3Generator } from './sd3-generator.js';
import { liveStepTensors } from './step-graph-runner.js';
import { StableDiffusionPipeline } from './stable-diffusion-pipeline.js';
import { loadSdReference, maxAbs, readF32, referenceCaseOptions, tinySdGoldenDir, tinySdModelDir } from './__fixtures__/golden.js';

const webgpu = await StableDiffusionPipeline.fromPretrained(tinySdModelDir, { device: 'webgpu', fallbackToCpu: false, logger: () => {} }).then(
  async (pipe) => {
    await pipe.dispose();
    return { ok: true, reason: '' };
  },
  (error: unknown) => ({ ok: false, reason: (error as Error).message }),
);

// CI installs Mesa's lavapipe (.ci/run): there a missing adapter fails this file instead of skipping it.
it.runIf(!webgpu.ok && Boolean(process.env.CI))('a WebGPU adapter initialises (required in CI: .ci/run installs lavapipe, VK_DRIVER_FILES)', () => {
  throw new Error(`no WebGPU adapter although CI is set: ${webgpu.reason}`);
});

const ref = loadSdReference();
// lavapipe runs every kernel on the CPU (seconds per UNet call on a busy 2-core machine)
vi.setConfig({ testTimeout: 600_000, hookTimeout: 600_000 });
const f32 = (name: string): Float32Array => readF32(tinySdGoldenDir, name);

describe.skipIf(!webgpu.ok)('StableDiffusionPipeline on WebGPU vs diffusers (tiny SD 1.x)', () => {
  let pipe: StableDiffusionPipeline;
  const latents = f32('ref_latents.f32');
  beforeAll(async () => {
    pipe = await StableDiffusionPipeline.fromPretrained(tinySdModelDir, { device: 'webgpu', fallbackToCpu: false });
  });
  afterAll(async () => {
    await pipe?.dispose();
  });

  it('UNet output at t=999 matches to 1e-3', async () => {
    const emb = await pipe.encodePrompt('a photo of a cat');
    const out = await pipe.predict({ data: latents, dims: [1, 4, 32, 32] }, 999, emb);
    expect(maxAbs(out, f32('ref_unet_t999.f32'))).toBeLessThan(1e-3);
  });

  // PNDM, DDIM with and without CFG, DPM-Solver++ 2M, LCM (1 step): the GPU-resident loop
  for (const i of [0, 1, 2, 5, 6]) {
    const c = ref.cases[i]!;
    it(`reference image ${i}: ${c.scheduler} ${c.steps} steps CFG ${c.guidance_scale} matches to 1e-3 (latents on the GPU)`, async () => {
      let onGpu = false;
      const [image] = await pipe.generateImages(['a photo of a cat'], {
        ...referenceCaseOptions(c, latents),
        onStep: (info: StepInfo) => {
          onGpu = (() => {
            try {
              return info.latents === undefined;
            } catch {
              return true; // GPU-resident: the latents are not on the host
            }
          })();
        },
      });
      expect(onGpu).toBe(true);
      expect(maxAbs(image!.float32!, f32(c.image.file))).toBeLessThan(1e-3);
    });
  }

  it('GPU-resident conditioning (uploaded once) gives the same image as host conditioning', async () => {
    const warnings: string[] = [];
    const resident = await StableDiffusionPipeline.fromPretrained(tinySdModelDir, {
      device: 'webgpu',
      fallbackToCpu: false,
      logger: (level, message) => {
        if (level === 'warn') warnings.push(message);
      },
    });
    const host = await StableDiffusionPipeline.fromPretrained(tinySdModelDir, { device: 'webgpu', fallbackToCpu: false, gpuResidentConditioning: false });
    const options = { steps: 3, guidanceScale: 7.5, latents, outputType: 'float32' as const };
    const [a] = await resident.generateImages(['a photo of a cat'], options);
    const [b] = await host.generateImages(['a photo of a cat'], options);
    expect(warnings.filter((m) => m.includes('conditioning stays on the host'))).toEqual([]);
    expect(maxAbs(a!.float32!, b!.float32!)).toBeLessThan(1e-6);
    await Promise.all([resident.dispose(), host.dispose()]);
  });

  it('NHWC layout (webgpuOptions.preferredLayout): UNet output at t=999 matches to 1e-3', async () => {
    const nhwc = await StableDiffusionPipeline.fromPretrained(tinySdModelDir, { device: 'webgpu', fallbackToCpu: false, webgpuOptions: { preferredLayout: 'NHWC' } });
    const emb = await nhwc.encodePrompt('a photo of a cat');
    const out = await nhwc.predict({ data: latents, dims: [1, 4, 32, 32] }, 999, emb);
    expect(maxAbs(out, f32('ref_unet_t999.f32'))).toBeLessThan(1e-3);
    await nhwc.dispose();
  });

  describe('GPU-resident latents vs the host loop', () => {
    let host: StableDiffusionPipeline;
    let seq: StableDiffusionPipeline;
    const warnings: string[] = [];
    beforeAll(async () => {
      host = await StableDiffusionPipeline.fromPretrained(tinySdModelDir, { device: 'webgpu', fallbackToCpu: false, gpuResidentLatents: false });
      seq = await StableDiffusionPipeline.fromPretrained(tinySdModelDir, {
        device: 'webgpu',
        fallbackToCpu: false,
        sequentialCfg: true,
        logger: (level, message) => {
          if (level === 'warn') warnings.push(message);
        },
      });
    });
    afterAll(async () => {
      await Promise.all([host?.dispose(), seq?.dispose()]);
    });

    // Each case runs the same call on the host loop and the GPU-resident loop: PLMS (ε history and
    // the kept first sample) with batched CFG, Euler ancestral (host noise per step) without
    // guidance, DPM-Solver++ 2M (stored converted outputs) with sequential CFG; two prompts.
    const cases: [string, GenerateOptions['scheduler'], 'batched' | 'none' | 'sequential'][] = [
      ['PNDM (PLMS)', { name: 'pndm', config: { skip_prk_steps: true } }, 'batched'],
      ['Euler ancestral (noise per step)', 'euler-a', 'none'],
      ['DPM-Solver++ 2M', 'dpm++2m', 'sequential'],
    ];
    for (const [label, scheduler, layout] of cases) {
      it(`${label}, ${layout} CFG: the GPU-resident loop equals the host loop (max |Δ| < 1e-5)`, async () => {
        const options: GenerateOptions = { steps: 3, guidanceScale: layout === 'none' ? 1 : 7.5, seed: 3, scheduler, outputType: 'float32' };
        const prompts = ['a photo of a cat', 'a dog'];
        const a = await host.generateImages(prompts, options);
        const b = await (layout === 'sequential' ? seq : pipe).generateImages(prompts, options);
        for (const k of [0, 1]) expect(maxAbs(b[k]!.float32!, a[k]!.float32!), `image ${k}`).toBeLessThan(1e-5);
        expect(warnings).toEqual([]);
      });
    }

    it('readLatents() reads the GPU latents during onStep; no GPU tensor outlives a call, also after an abort or a failing callback', async () => {
      const base = liveStepTensors();
      const perStep: Float32Array[] = [];
      const hostSteps: Float32Array[] = [];
      const options: GenerateOptions = { steps: 2, guidanceScale: 7.5, seed: 5, scheduler: 'dpm++2m' };
      await pipe.generateImages(['a cat'], { ...options, onStep: async (info) => void perStep.push(await info.readLatents()) });
      await host.generateImages(['a cat'], { ...options, onStep: async (info) => void hostSteps.push(await info.readLatents()) });
      expect(perStep).toHaveLength(2);
      for (let k = 0; k < 2; k++) expect(maxAbs(perStep[k]!, hostSteps[k]!)).toBeLessThan(1e-5);
      expect(liveStepTensors()).toBe(base);
      const ctrl = new AbortController();
      await expect(pipe.generateImages(['a cat'], { ...options, signal: ctrl.signal, onStep: () => ctrl.abort() })).rejects.toMatchObject({ code: 'SD_ABORTED' });
      await expect(
        pipe.generateImages(['a cat'], {
          ...options,
          onStep: () => {
            throw new Error('callback failed');
          },
        }),
      ).rejects.toThrow('callback failed');
      expect(liveStepTensors()).toBe(base);
      // repeated calls do not grow the number of live GPU tensors
      for (let k = 0; k < 2; k++) await pipe.generateImages(['a cat'], { ...options, steps: 1, scheduler: 'pndm' });
      expect(liveStepTensors()).toBe(base);
      expect(warnings).toEqual([]);
    });

    it('falls back to the host loop with one warning when the GPU step fails, and stays there', async () => {
      const messages: string[] = [];
      const p = await StableDiffusionPipeline.fromPretrained(tinySdModelDir, {
        device: 'webgpu',
        fallbackToCpu: false,
        logger: (level, message) => {
          if (level === 'warn') messages.push(message);
        },
      });
      // a scheduler whose plan reads a slot no step stored: the step graph runner rejects it
      const broken = createScheduler('euler', p.schedulerConfig) as EulerDiscreteScheduler;
      const plan = broken.affineStep.bind(broken);
      broken.affineStep = (i: number) => ({ ...plan(i), next: { sample: 1, history: { missing: 1 } } });
      const options: GenerateOptions = { steps: 2, guidanceScale: 7.5, seed: 9, outputType: 'float32' };
      const [a] = await p.generateImages(['a cat'], { ...options, scheduler: broken });
      const [b] = await host.generateImages(['a cat'], { ...options, scheduler: 'euler' });
      expect(maxAbs(a!.float32!, b!.float32!)).toBeLessThan(1e-6);
      expect(messages).toHaveLength(1);
      expect(messages[0]).toMatch(/latents go back to the host loop .*history slot "missing"/u);
      await p.generateImages(['a cat'], { ...options, steps: 1, scheduler: 'euler' });
      expect(messages).toHaveLength(1);
      expect(liveStepTensors()).toBe(0);
      await p.dispose();
    });
  });
});

describe.skipIf(!webgpu.ok)('SD3Generator on WebGPU with GPU-resident latents (tiny SD3, flow matching)', () => {
  it('reference image 0 matches diffusers to 1e-3 and the host loop to 1e-5', async () => {
    const dir = new URL('./__fixtures__/tiny-sd3/', import.meta.url).pathname;
    const sd3Ref = JSON.parse(readFileSync(`${dir}reference.json`, 'utf8')) as {
      cases: { prompt: string; negative_prompt: string | null; steps: number; guidance_scale: number; image: { file: string } }[];
    };
    const c = sd3Ref.cases[0]!;
    const options: GenerateOptions = {
      steps: c.steps,
      guidanceScale: c.guidance_scale,
      ...(c.negative_prompt !== null ? { negativePrompt: c.negative_prompt } : {}),
      latents: readF32(dir, 'ref_latents.f32'),
      outputType: 'float32',
    };
    const warnings: string[] = [];
    const gpu = await SD3Generator.fromPretrained(dir, { device: 'webgpu', fallbackToCpu: false, logger: (level, m) => void (level === 'warn' && warnings.push(m)) });
    const host = await SD3Generator.fromPretrained(dir, { device: 'webgpu', fallbackToCpu: false, gpuResidentLatents: false });
    const a = await gpu.generateImage(c.prompt, options);
    const b = await host.generateImage(c.prompt, options);
    expect(warnings).toEqual([]);
    expect(maxAbs(a.float32!, readF32(dir, c.image.file))).toBeLessThan(1e-3);
    expect(maxAbs(a.float32!, b.float32!)).toBeLessThan(1e-5);
    await Promise.all([gpu.dispose(), host.dispose()]);
  });
});

describe.skipIf(!webgpu.ok)('ONNX Runtime fused diffusion ops on WebGPU (portable copy)', () => {
  it('NhwcConv → GroupNorm (SiLU) → packed-QKV attention equals the CPU run of the same copy (lowered where the EP lacks the op)', async () => {
    const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { onnxModelBytes, ONNX_ELEMENT_TYPES } = await import('./onnx-proto.js');
    const { OnnxModel } = await import('./onnx-session.js');
    const { PhiloxGenerator } = await import('./random.js');
    const F32 = ONNX_ELEMENT_TYPES.float32;
    const raw = (values: Float32Array): Uint8Array => new Uint8Array(values.buffer.slice(0));
    const rand = (seed: number, n: number): Float32Array => new PhiloxGenerator(seed).randn(n).map((v) => v * 0.5);
    // x [1, 4, 4, 8] NHWC → NhwcConv 3×3 (12 = 2 heads × 3 × 2) → GroupNorm over 12 channels (6 groups)
    // → reshape [1, 16, 2, 3, 2] (packed QKV: 2 heads, head size 2) → MultiHeadAttention → [1, 16, 4]
    const folder = mkdtempSync(join(tmpdir(), 'vlm-grpo-fused-'));
    const path = join(folder, 'model.onnx');
    writeFileSync(
      path,
      onnxModelBytes(
        {
          name: 'fused',
          nodes: [
            { op: 'NhwcConv', domain: 'com.microsoft', inputs: ['x', 'w', 'b'], outputs: ['c'], intListAttributes: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
            { op: 'GroupNorm', domain: 'com.microsoft', inputs: ['c', 'gamma', 'beta'], outputs: ['n'], attributes: { groups: 6, activation: 1 } },
            { op: 'Reshape', inputs: ['n', 'packed_shape'], outputs: ['qkv'] },
            { op: 'MultiHeadAttention', domain: 'com.microsoft', inputs: ['qkv'], outputs: ['y'], attributes: { num_heads: 2 } },
          ],
          inputs: [{ name: 'x', elemType: F32, dims: [1, 4, 4, 8] }],
          outputs: [{ name: 'y', elemType: F32, dims: [1, 16, 4] }],
          initializers: [
            { name: 'w', elemType: F32, dims: [12, 3, 3, 8], raw: raw(rand(1, 12 * 9 * 8)) },
            { name: 'b', elemType: F32, dims: [12], raw: raw(rand(2, 12)) },
            { name: 'gamma', elemType: F32, dims: [12], raw: raw(rand(3, 12).map((v) => 1 + v)) },
            { name: 'beta', elemType: F32, dims: [12], raw: raw(rand(4, 12)) },
            { name: 'packed_shape', elemType: ONNX_ELEMENT_TYPES.int64, dims: [5], raw: new Uint8Array(new BigInt64Array([1n, 16n, 2n, 3n, 2n]).buffer) },
          ],
        },
        17,
        { 'com.microsoft': 1 },
      ),
    );
    const x = rand(5, 128);
    const logs: string[] = [];
    const runOn = async (device: 'webgpu' | 'cpu'): Promise<Float32Array> => {
      const m = await OnnxModel.load(path, 'unet', { device, fallbackToCpu: false, logger: (_l, message) => logs.push(message) });
      const y = (await m.run({ x: m.floatTensor('x', x, [1, 4, 4, 8]) })).get('y')!.data;
      await m.dispose();
      return y;
    };
    try {
      const gpu = await runOn('webgpu');
      const cpu = await runOn('cpu');
      expect(maxAbs(gpu, cpu)).toBeLessThan(1e-4);
      expect(logs[0]).toMatch(/NhwcConv ×1.*MultiHeadAttention \(packed\) ×1.*for webgpu/u);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
