import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as entry from './index.js';
import { DiffusionPipeline, SD3Generator, SdError, StableDiffusionPipeline, checkQuality } from './index.js';
import { readF32, tinySdGoldenDir, tinySdModelDir } from './__fixtures__/golden.js';

const fixtures = new URL('./__fixtures__/', import.meta.url).pathname;
const tinySd = tinySdModelDir;
const tinySd3 = join(fixtures, 'tiny-sd3');
const refLatents = readF32(tinySdGoldenDir, 'ref_latents.f32');

async function expectSdError(p: Promise<unknown> | (() => unknown), code: string, pattern?: RegExp): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    expect(SdError.isInstance(e), String(e)).toBe(true);
    expect((e as SdError).code).toBe(code);
    if (pattern) expect((e as Error).message).toMatch(pattern);
    return;
  }
  throw new Error(`expected an SdError ${code}`);
}

describe('entry point', () => {
  it('names its package and exports the pipelines', () => {
    expect(entry.PACKAGE_NAME).toBe('@vlm-grpo/sd');
    expect(typeof entry.DiffusionPipeline.fromPretrained).toBe('function');
    expect(typeof entry.SD3Generator.fromPretrained).toBe('function');
  });
});

describe('pipeline behaviour on tiny-sd', () => {
  let pipe: StableDiffusionPipeline;
  const quick = { steps: 2, guidanceScale: 7.5, scheduler: 'ddim' } as const;
  beforeAll(async () => {
    pipe = (await DiffusionPipeline.fromPretrained(tinySd)) as StableDiffusionPipeline;
  });
  afterAll(async () => {
    await pipe.dispose();
  });

  it('DiffusionPipeline dispatches on model_index.json', async () => {
    expect(pipe).toBeInstanceOf(StableDiffusionPipeline);
    const sd3 = await DiffusionPipeline.fromPretrained(tinySd3, { memoryEfficient: true });
    expect(sd3).toBeInstanceOf(SD3Generator);
    await sd3.dispose();
  });

  it('same seed → same image; image i of a batch uses seed + i', async () => {
    const a = await pipe.generateImage('a cat', { ...quick, seed: 123 });
    const b = await pipe.generateImage('a cat', { ...quick, seed: 123 });
    const c = await pipe.generateImage('a cat', { ...quick, seed: 124 });
    expect(a.data).toEqual(b.data);
    expect(a.data).not.toEqual(c.data);
    expect(a.seed).toBe(123);
    const batch = await pipe.generateImages(['a cat', 'a dog'], { ...quick, seed: 123, numImagesPerPrompt: 2 });
    expect(batch.map((i) => [i.prompt, i.seed])).toEqual([
      ['a cat', 123],
      ['a cat', 124],
      ['a dog', 125],
      ['a dog', 126],
    ]);
    // Batched CFG gives the same images as one-at-a-time generation (to float rounding).
    const diff = Math.max(...batch[1]!.data.map((v, k) => Math.abs(v - c.data[k]!)));
    expect(diff).toBeLessThanOrEqual(1);
    expect(batch[0]!.timings.stepSeconds).toHaveLength(2);
    expect(batch[0]!.timings.totalSeconds).toBeGreaterThan(0);
  });

  it('stochastic schedulers are deterministic for a seed (Euler ancestral)', async () => {
    const opts = { steps: 3, guidanceScale: 1, scheduler: 'euler-a', seed: 9 } as const;
    const a = await pipe.generateImage('x', opts);
    const b = await pipe.generateImage('x', opts);
    expect(a.data).toEqual(b.data);
  });

  it('memory-efficient mode with VAE slicing gives the same images', async () => {
    const lean = await StableDiffusionPipeline.fromPretrained(tinySd, { memoryEfficient: true });
    const opts = { ...quick, seed: 5, numImagesPerPrompt: 2 };
    const a = await lean.generateImages(['a cat'], opts);
    const b = await pipe.generateImages(['a cat'], opts);
    expect(a.map((i) => i.data)).toEqual(b.map((i) => i.data));
    await lean.dispose();
    await expectSdError(lean.generateImage('a cat', opts), 'SD_RELEASED');
  });

  it('sequential CFG runs the denoiser at batch B (not 2B) and gives the batched images', async () => {
    const seq = await StableDiffusionPipeline.fromPretrained(tinySd, { sequentialCfg: true });
    const opts = { steps: 2, guidanceScale: 7.5, scheduler: 'ddim', seed: 5, numImagesPerPrompt: 2, outputType: 'float32' } as const;
    // Observe the batch the denoiser receives (the pipeline's own ONNX session, wrapped).
    const batches: number[] = [];
    const denoiser = await (seq as unknown as { denoiserComponent(): { get(): Promise<{ run: (feeds: Record<string, { dims: readonly number[] }>, names?: string[]) => Promise<unknown> }> } })
      .denoiserComponent()
      .get();
    const run = denoiser.run.bind(denoiser);
    denoiser.run = (feeds, names) => {
      batches.push(feeds.sample!.dims[0]!);
      return run(feeds, names);
    };
    const a = await seq.generateImages(['a cat'], opts);
    const b = await pipe.generateImages(['a cat'], opts);
    expect(batches).toEqual([2, 2, 2, 2]);
    for (let i = 0; i < a.length; i++) {
      let largest = 0;
      a[i]!.float32!.forEach((v, k) => (largest = Math.max(largest, Math.abs(v - b[i]!.float32![k]!))));
      expect(largest).toBeLessThan(1e-4);
    }
    await seq.dispose();
  });

  it('onStep reports every step and AbortSignal stops generation', async () => {
    const seen: number[] = [];
    await pipe.generateImage('a cat', { steps: 3, guidanceScale: 1, scheduler: 'euler', seed: 1, onStep: (s) => void seen.push(s.step) });
    expect(seen).toEqual([0, 1, 2]);
    const ctrl = new AbortController();
    await expectSdError(
      pipe.generateImage('a cat', { steps: 4, seed: 1, signal: ctrl.signal, onStep: () => ctrl.abort() }),
      'SD_ABORTED',
    );
  });

  it('returns PNG bytes through sharp', async () => {
    const img = await pipe.generateImage('a cat', { ...quick, seed: 3 });
    const png = await img.toPNG();
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const { default: sharp } = await import('sharp');
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([64, 64, 3]);
  });

  it('float32 output equals the uint8 data up to rounding', async () => {
    const img = await pipe.generateImage('a cat', { ...quick, seed: 3, outputType: 'float32' });
    expect(img.float32).toHaveLength(64 * 64 * 3);
    for (let k = 0; k < 300; k++) expect(Math.abs(img.float32![k]! * 255 - img.data[k]!)).toBeLessThanOrEqual(0.5 + 1e-4);
  });

  it('quality validation reports or throws on NaN latents', async () => {
    const bad = new Float32Array(refLatents.length).fill(Number.NaN);
    const img = await pipe.generateImage('a cat', { steps: 1, guidanceScale: 1, latents: bad, scheduler: 'ddim' });
    expect(img.quality.ok).toBe(false);
    expect(img.quality.issues).toEqual(expect.arrayContaining(['nan-latents', 'nan-pixels']));
    await expectSdError(
      pipe.generateImage('a cat', { steps: 1, guidanceScale: 1, latents: bad, validation: 'error' }),
      'SD_QUALITY_CHECK_FAILED',
      /nan-latents/,
    );
  });

  it('bad input: empty prompts, sizes, steps, latents, scheduler, negatives', async () => {
    await expectSdError(pipe.generateImages([]), 'SD_EMPTY_PROMPTS');
    await expectSdError(pipe.generateImage('a', { height: 63 }), 'SD_INVALID_ARGUMENT', /height must be a positive multiple of 2/);
    await expectSdError(pipe.generateImage('a', { steps: 0 }), 'SD_INVALID_ARGUMENT', /steps/);
    await expectSdError(pipe.generateImage('a', { latents: new Float32Array(10) }), 'SD_INVALID_ARGUMENT', /\[1, 4, 32, 32\]/);
    await expectSdError(pipe.generateImage('a', { scheduler: 'heun' }), 'SD_UNKNOWN_SCHEDULER', /heun/);
    await expectSdError(pipe.generateImages(['a', 'b'], { negativePrompt: ['x'] }), 'SD_INVALID_ARGUMENT', /negativePrompt/);
  });
});

describe('quality checks', () => {
  it('flags black, near-constant and non-finite images', () => {
    const n = 3 * 8 * 8;
    const noisy = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    expect(checkQuality(new Float32Array(4), noisy).ok).toBe(true);
    expect(checkQuality(new Float32Array(4), new Float32Array(n).fill(-1)).issues).toEqual(['black']);
    expect(checkQuality(new Float32Array(4), new Float32Array(n).fill(0.2)).issues).toEqual(['near-constant']);
    const inf = noisy.slice();
    inf[3] = Number.POSITIVE_INFINITY;
    expect(checkQuality(new Float32Array([Number.NEGATIVE_INFINITY]), inf).issues).toEqual(['inf-latents', 'inf-pixels']);
  });
});

describe('model loading', () => {
  it('names a missing model folder and missing component files', async () => {
    await expectSdError(DiffusionPipeline.fromPretrained('/nonexistent/model'), 'SD_MODEL_FILE_NOT_FOUND', /\/nonexistent\/model/);
    const dir = mkdtempSync(join(tmpdir(), 'sd-missing-'));
    cpSync(tinySd, dir, { recursive: true, filter: (src) => !src.endsWith(join('unet', 'model.onnx')) });
    await expectSdError(DiffusionPipeline.fromPretrained(dir), 'SD_MODEL_FILE_NOT_FOUND', /unet\/model\.onnx/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a requested device that cannot start falls back to CPU with a logged warning', async () => {
    const logs: string[] = [];
    const p = await StableDiffusionPipeline.fromPretrained(tinySd, {
      device: 'webgpu',
      logger: (level, m) => void (level === 'warn' && logs.push(m)),
      memoryEfficient: true,
    });
    const img = await p.generateImage('a cat', { steps: 1, guidanceScale: 1, scheduler: 'euler', seed: 1 });
    expect(img.width).toBe(64);
    await p.dispose();
    // On a machine with a WebGPU adapter the session starts there and nothing is warned.
    if (logs.length > 0) expect(logs.join('\n')).toMatch(/using cpu \(webgpu unavailable/);
  });

  it('without fallback, an unavailable device is SD_DEVICE_UNAVAILABLE', async () => {
    const { loadOrt } = await import('./onnx-session.js');
    const ort = await loadOrt();
    const cuda = ort.listSupportedBackends().find((b) => b.name === 'cuda');
    if (cuda?.bundled) return; // a machine with the CUDA provider installed can start it
    await expectSdError(
      StableDiffusionPipeline.fromPretrained(tinySd, { device: 'cuda', fallbackToCpu: false }),
      'SD_DEVICE_UNAVAILABLE',
      /cuda unavailable/,
    );
  });

  it('loads from the Hub through fetch into a cache, and reports offline clearly', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'sd-hub-'));
    const requested: string[] = [];
    const fakeFetch = (async (url: string | URL) => {
      const u = String(url);
      requested.push(u);
      const rel = u.split('/resolve/main/')[1]!;
      const local = join(tinySd3, rel);
      if (!existsSync(local)) return new Response('not found', { status: 404 });
      return new Response(readFileSync(local));
    }) as typeof fetch;
    const gen = await DiffusionPipeline.fromPretrained('tiny/sd3', { cacheDir, fetch: fakeFetch, endpoint: 'https://hub.test' });
    expect(gen).toBeInstanceOf(SD3Generator);
    expect(requested[0]).toBe('https://hub.test/tiny/sd3/resolve/main/model_index.json');
    const img = await gen.generateImage('a photo of a cat', { steps: 1, guidanceScale: 1, seed: 0 });
    expect(img.width).toBe(32);
    await gen.dispose();
    // Everything is cached now: localFilesOnly works without fetch.
    const cached = await DiffusionPipeline.fromPretrained('tiny/sd3', { cacheDir, localFilesOnly: true });
    await cached.dispose();
    const offline = (async () => {
      throw new TypeError('fetch failed: getaddrinfo ENOTFOUND huggingface.co');
    }) as typeof fetch;
    await expectSdError(
      DiffusionPipeline.fromPretrained('someone/model', { cacheDir, fetch: offline }),
      'SD_HUB_UNAVAILABLE',
      /https:\/\/huggingface\.co\/someone\/model\/resolve\/main\/model_index\.json/,
    );
    rmSync(cacheDir, { recursive: true, force: true });
  });
});
