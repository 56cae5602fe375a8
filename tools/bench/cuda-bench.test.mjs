/**
 * The CUDA side of the benchmarks, on the CPU: unet-webgpu.mjs and clip-tower.mjs with
 * `--device cpu` take the path `--device cuda` takes (no gpu-buffer outputs, no layouts, host loop
 * only, VAE decode part), and with `--device cuda` on a machine without the CUDA provider they stop
 * at once naming why; cuda-summary.mjs turns the suite's JSON into the table; cuda-suite.sh rejects
 * an unknown step; torch-diffusion.py runs on the CPU with the tiny model where python3 has torch
 * and diffusers (installed or its source in .replicas/diffusers-src/src), and is skipped, saying
 * why, elsewhere. The tiny diffusion model is data/models/tiny-sd (VLM_GRPO_TEST_TINY_SD names
 * another copy of it).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

import { formatSummary, summarise } from './cuda-summary.mjs';

const here = (name) => fileURLToPath(new URL(name, import.meta.url));
const root = here('../..');
const tinySd = process.env.VLM_GRPO_TEST_TINY_SD ?? join(root, 'data', 'models', 'tiny-sd');
const tinyClip = join(root, 'data', 'models', 'tiny-clip');
const scratch = mkdtempSync(join(tmpdir(), 'vlm-grpo-cuda-bench-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const node = (args) => spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
/** True when @vlm-grpo/device finds a ready CUDA provider beside onnxruntime-node (then `cuda` runs). */
async function cudaReady() {
  const { cudaProviderStatus } = await import('@vlm-grpo/device');
  return cudaProviderStatus({ resolveFrom: [import.meta.url] }).ready;
}

describe('tools/bench/unet-webgpu.mjs off WebGPU', () => {
  it('--device cpu: UNet step per batch with no layouts, the host loop alone, the VAE decode per batch', () => {
    const json = join(scratch, 'unet.json');
    const run = node([here('./unet-webgpu.mjs'), '--model', tinySd, '--device', 'cpu', '--batches', '1,2', '--steps', '2', '--repeats', '1', '--vae', '--vae-batches', '1,2', '--vae-latent', '8', '--json', json]);
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(readFileSync(json, 'utf8'));
    // Both attention forms: as exported, and fused into MultiHeadAttention (the pipeline's default on WebGPU and CPU).
    expect(result.unet.map((r) => [r.layout, r.attention, r.batch, r.dtype, r.error])).toEqual([
      ['-', 'plain', 1, 'float32', undefined],
      ['-', 'plain', 2, 'float32', undefined],
      ['-', 'fused', 1, 'float32', undefined],
      ['-', 'fused', 2, 'float32', undefined],
    ]);
    for (const r of result.unet) expect(r.ms).toBeGreaterThan(0);
    expect(result.image.map((r) => r.loop)).toEqual(['host']);
    expect(result.vae.map((r) => [r.batch, r.latent, r.image, r.dtype, r.output])).toEqual([
      [1, 8, 16, 'float32', 'host'], // the tiny VAE has two blocks: 2× up
      [2, 8, 16, 'float32', 'host'],
    ]);
    for (const r of result.vae) expect(r.ms).toBeGreaterThan(0);
    expect(run.stdout).toContain('outputs copied to the host');
    expect(run.stdout.trim().split('\n').at(-1)).toMatch(/^2 +16² +float32 +host +\d+\.\d$/u);
  }, 60_000);

  it('--device cuda without the CUDA provider: exits 1 naming why, before any session', async (context) => {
    if (await cudaReady()) context.skip();
    for (const [script, model] of [['./unet-webgpu.mjs', tinySd], ['./clip-tower.mjs', tinyClip]]) {
      const run = node([here(script), '--model', model, '--device', 'cuda']);
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/--device cuda: the CUDA provider is not installed \(no .*libonnxruntime_providers_cuda\.so/u);
    }
  });
});

describe('tools/bench/clip-tower.mjs off WebGPU', () => {
  it('--device cpu reads every output on the host; --keep-on-gpu is refused there', () => {
    const json = join(scratch, 'tower.json');
    const run = node([here('./clip-tower.mjs'), '--model', tinyClip, '--device', 'cpu', '--batches', '1,4', '--repeats', '1', '--json', json]);
    expect(run.status, run.stderr).toBe(0);
    expect(JSON.parse(readFileSync(json, 'utf8')).rows.map((r) => r.batch)).toEqual([1, 4]);
    expect(run.stdout).toContain('outputs to the host');
    const keep = node([here('./clip-tower.mjs'), '--model', tinyClip, '--device', 'cpu', '--keep-on-gpu']);
    expect(keep.status).not.toBe(0);
    expect(keep.stderr).toContain('--keep-on-gpu needs --device webgpu');
  });
});

describe('tools/bench/cuda-summary.mjs and cuda-suite.sh', () => {
  it('puts ours beside PyTorch per measurement, with the ratio, and lists what PyTorch alone ran', () => {
    const dir = mkdtempSync(join(scratch, 'logs-'));
    const write = (name, value) => writeFileSync(join(dir, name), JSON.stringify(value));
    write('unet-turbo.json', {
      model: '/tmp/rep/real/sd-turbo/',
      unet: [{ layout: '-', batch: 2, dtype: 'float16', ms: 40 }, { layout: '-', batch: 8, error: 'out of memory' }],
      image: [{ loop: 'host', steps: 51, loopS: 2.04 }],
      vae: [{ batch: 1, latent: 64, image: 512, dtype: 'float16', ms: 12, output: 'host' }],
    });
    write('tower-fp32.json', { rows: [{ batch: 8, ms: 2 }, { batch: 64, ms: 9 }] });
    write('torch-diffusion.json', { gpu: 'NVIDIA H100', 'sd-turbo_unet_b2_fp16_ms': 20, 'sd-turbo_vae_b1_l64_fp16_ms': 24, 'sd-turbo_unet_b2_fp32_ms': 50, clip_tower_b64_fp32_ms: 10 });
    write('iteration-turbo.json', { ours: { seconds: { generation: 3, total: 6 } }, torch: { seconds: { generation: 1.5, total: 4 } } });
    writeFileSync(join(dir, 'steps.tsv'), 'doctor\t0\t5\nunet-turbo\t124\t300\nunet-sd15\tskipped\t0\n');
    const summary = summarise(dir);
    expect(summary.rows.map((r) => [r.work, r.ours, r.torch, r.ratio])).toEqual([
      ['sd-turbo UNet step fp16, batch 2', 40, 20, '2.00×'],
      ['sd-turbo UNet step ?, batch 8', undefined, undefined, '–'],
      ['sd-turbo VAE decode 512² fp16, batch 1', 12, 24, '0.50×'],
      ['sd-turbo 51-call image, ms per UNet step (host loop, batch 2)', 40, undefined, '–'],
      ['CLIP image tower fp32, batch 64', 9, 10, '0.90×'],
      ['PyTorch only: sd-turbo_unet_b2_fp32', undefined, 50, '–'],
      ['GRPO iteration (sd-turbo-clip), generation, seconds', 3, 1.5, '2.00×'],
      ['GRPO iteration (sd-turbo-clip), total, seconds', 6, 4, '1.50×'],
    ]);
    const text = formatSummary(summary);
    expect(text).toContain('steps: doctor ok 5 s, unet-turbo rc=124 300 s, unet-sd15 skipped 0 s');
    expect(text).toContain('| work | ORT CUDA EP from Node.js | PyTorch (NVIDIA H100) | ours / PyTorch |');
    expect(text).toContain('| sd-turbo UNet step ?, batch 8 | error: out of memory | – | – |');
  });

  it('cuda-suite.sh rejects an unknown step before touching anything', () => {
    const run = spawnSync('bash', [here('./cuda-suite.sh'), 'doctor', 'nope'], { cwd: root, encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('cuda-suite: unknown step nope (expected some of: doctor unet-turbo unet-sd15 clip torch iteration)');
  });
});

describe('tools/bench/torch-diffusion.py', () => {
  it('times the UNet and VAE of the tiny model and the tiny CLIP tower on the CPU', (context) => {
    const probe = spawnSync('python3', ['-c', 'import torch, transformers'], { encoding: 'utf8' });
    if (probe.status !== 0) {
      console.warn(`[tools] torch-diffusion.py test skipped: python3 cannot import torch and transformers here (${(probe.stderr || probe.error?.message || '').trim().split('\n').at(-1)})`);
      context.skip();
    }
    const source = process.env.VLM_GRPO_DIFFUSERS_SRC ?? join(root, '.replicas', 'diffusers-src', 'src');
    const hasDiffusers = spawnSync('python3', ['-c', 'import diffusers'], { encoding: 'utf8' }).status === 0 || existsSync(join(source, 'diffusers'));
    if (!hasDiffusers) {
      console.warn(`[tools] torch-diffusion.py test skipped: diffusers is neither installed nor at ${source}`);
      context.skip();
    }
    const json = join(scratch, 'torch.json');
    const run = spawnSync('python3', [here('./torch-diffusion.py'), '--device', 'cpu', '--sd-model', tinySd, '--clip-model', tinyClip, '--batches', '2', '--vae-batches', '1',
      '--vae-latent', '8', '--clip-batch', '2', '--repeats', '1', '--warmup', '1', '--json', json], { cwd: root, encoding: 'utf8', env: { ...process.env, VLM_GRPO_DIFFUSERS_SRC: source } });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(readFileSync(json, 'utf8'));
    expect(result.device).toBe('cpu');
    expect(result.skipped).toEqual({ fp16: 'fp16 runs on CUDA only' });
    expect(result['tiny-sd_unet_b2_fp32_ms']).toBeGreaterThan(0);
    expect(result['tiny-sd_vae_b1_l8_fp32_ms']).toBeGreaterThan(0);
    expect(result.clip_tower_b2_fp32_ms).toBeGreaterThan(0);
  }, 120_000);
});
