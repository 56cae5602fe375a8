import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DiffusionPipeline, ModelRepository, ONNX_EQUIVALENTS, SdError, onnxConversionCommand } from './index.js';
import { tinySdModelDir } from './__fixtures__/golden.js';

let scratch: string;
beforeEach(() => {
  scratch = mkdtempSync(join(tmpdir(), 'sd-files-'));
});
afterEach(() => {
  rmSync(scratch, { recursive: true, force: true });
});

async function sdError(promise: Promise<unknown>): Promise<SdError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(SdError.isInstance(error), String(error)).toBe(true);
  return error as SdError;
}

/** An ONNX model whose one initializer lives in external data at `location` (hand-written protobuf). */
function externalDataModel(location: string): Uint8Array {
  const varint = (v: number): number[] => (v < 0x80 ? [v] : [(v % 128) | 0x80, ...varint(Math.floor(v / 128))]);
  const bytes = (f: number, b: number[]) => [...varint(f * 8 + 2), ...varint(b.length), ...b];
  const str = (f: number, t: string) => bytes(f, [...Buffer.from(t)]);
  const int = (f: number, v: number) => [...varint(f * 8), ...varint(v)];
  const entry = (k: string, v: string) => bytes(13, [...str(1, k), ...str(2, v)]);
  const tensor = [...int(1, 1), ...int(2, 1), ...str(8, 'w'), ...entry('location', location), ...int(14, 1)];
  return Uint8Array.from([...int(1, 8), ...bytes(7, [...str(2, 'g'), ...bytes(5, tensor)])]);
}

describe('model files', () => {
  it('resolves a relative folder from the working directory, and a folder wins over a hub id', async () => {
    const cwd = process.cwd();
    mkdirSync(join(scratch, 'org'));
    cpSync(tinySdModelDir, join(scratch, 'org', 'tiny'), { recursive: true });
    process.chdir(scratch);
    try {
      const repo = ModelRepository.open('org/tiny');
      expect(repo.repoId).toBeUndefined();
      expect(repo.root).toBe(join(scratch, 'org', 'tiny'));
      const pipe = await DiffusionPipeline.fromPretrained('org/tiny');
      await pipe.dispose();
    } finally {
      process.chdir(cwd);
    }
  });

  it('refuses ONNX external data and model_index.json components that escape the model folder', async () => {
    const folder = join(scratch, 'evil');
    cpSync(tinySdModelDir, folder, { recursive: true });
    writeFileSync(join(folder, 'unet', 'model.onnx'), externalDataModel('../../../etc/passwd'));
    const error = await sdError(DiffusionPipeline.fromPretrained(folder));
    expect(error.code).toBe('SD_UNSAFE_PATH');
    expect(error.message).toMatch(/unet\/model\.onnx \(external data\).*escapes the model folder/u);

    // A symlinked external-data file that points outside is refused too.
    writeFileSync(join(scratch, 'outside.bin'), 'x');
    writeFileSync(join(folder, 'unet', 'model.onnx'), externalDataModel('weights.pb'));
    symlinkSync(join(scratch, 'outside.bin'), join(folder, 'unet', 'weights.pb'));
    expect((await sdError(DiffusionPipeline.fromPretrained(folder))).message).toMatch(/outside the model folder/u);

    const index = join(scratch, 'bad-index');
    cpSync(tinySdModelDir, index, { recursive: true });
    writeFileSync(join(index, 'model_index.json'), JSON.stringify({ _class_name: 'StableDiffusionPipeline', '../unet': ['diffusers', 'UNet2DConditionModel'] }));
    expect((await sdError(DiffusionPipeline.fromPretrained(index))).code).toBe('SD_UNSAFE_PATH');
  });

  it('fetches the external data an ONNX file names from the hub, and never requests an escaping name', async () => {
    const requested: string[] = [];
    const files: Record<string, Uint8Array> = {
      'model_index.json': Buffer.from('{"_class_name":"OnnxStableDiffusionPipeline"}'),
      'unet/model.onnx': externalDataModel('weights.pb'),
      'unet/weights.pb': Buffer.from([0, 0, 0, 0]),
    };
    const fakeFetch = (async (url: string | URL) => {
      requested.push(String(url));
      const body = files[String(url).split('/resolve/main/')[1]!];
      return body ? new Response(body, { headers: { 'x-repo-commit': 'c'.repeat(40) } }) : new Response('', { status: 404 });
    }) as typeof fetch;
    const repo = ModelRepository.open('org/ext', { cacheDir: scratch, fetch: fakeFetch, endpoint: 'https://hub.test' });
    await repo.file('unet/model.onnx', 'UNet', true);
    expect(requested).toContain('https://hub.test/org/ext/resolve/main/unet/weights.pb');
    expect(repo.root).toBe(join(scratch, 'models--org--ext', 'snapshots', 'c'.repeat(40)));

    files['unet/model.onnx'] = externalDataModel('../../../../x');
    const evil = ModelRepository.open('org/evil', { cacheDir: scratch, fetch: fakeFetch, endpoint: 'https://hub.test' });
    expect((await sdError(evil.file('unet/model.onnx', 'UNet', true))).code).toBe('SD_UNSAFE_PATH');
    expect(requested.some((url) => url.includes('..') || url.endsWith('/x'))).toBe(false);
  });

  it('names the ONNX layout and the export command for a diffusers PyTorch repository', async () => {
    const folder = join(scratch, 'pytorch-layout');
    mkdirSync(join(folder, 'unet'), { recursive: true });
    writeFileSync(join(folder, 'model_index.json'), '{"_class_name":"StableDiffusionPipeline","unet":["diffusers","UNet2DConditionModel"]}');
    writeFileSync(join(folder, 'unet', 'config.json'), '{}');
    writeFileSync(join(folder, 'unet', 'diffusion_pytorch_model.safetensors'), '');
    const error = await sdError(DiffusionPipeline.fromPretrained(folder));
    expect(error.code).toBe('SD_MODEL_FILE_NOT_FOUND');
    expect(error.message).toMatch(/diffusers PyTorch layout .*Optimum ONNX layout .*optimum-cli export onnx --model .*pytorch-layout --task text-to-image/u);
    expect(onnxConversionCommand('org/name')).toBe('optimum-cli export onnx --model org/name --task text-to-image models/name-onnx');
  });

  it('loads the ONNX export of the original design\'s SD 1.5 id, with a log line', async () => {
    expect(ONNX_EQUIVALENTS['runwayml/stable-diffusion-v1-5']).toBe('onnx-community/stable-diffusion-v1-5-ONNX');
    const logs: string[] = [];
    const requested: string[] = [];
    const offline = (async (url: string | URL) => {
      requested.push(String(url));
      throw new TypeError('fetch failed');
    }) as typeof fetch;
    const error = await sdError(
      DiffusionPipeline.fromPretrained('runwayml/stable-diffusion-v1-5', { cacheDir: scratch, fetch: offline, logger: (_level, message) => logs.push(message) }),
    );
    expect(error.code).toBe('SD_HUB_UNAVAILABLE');
    expect(logs).toEqual(['runwayml/stable-diffusion-v1-5 has no ONNX files; using its ONNX export onnx-community/stable-diffusion-v1-5-ONNX (same weights, Optimum ONNX layout)']);
    expect(requested[0]).toBe('https://huggingface.co/onnx-community/stable-diffusion-v1-5-ONNX/resolve/main/model_index.json');
  });
});
