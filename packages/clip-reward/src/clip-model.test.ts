/**
 * Golden tests of the CLIP model wrapper against the Python reference (tiny-clip fixture,
 * transformers 5.17): tokenisation ids, text/image embeddings and logits to 1e-4.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClipModel } from './clip-model.js';
import { CLIPRewardCalculator } from './clip-reward-calculator.js';
import { ClipRewardError, ModelFileMissingError } from './errors.js';

const fixture = fileURLToPath(new URL('./__fixtures__/tiny-clip/', import.meta.url));
/** The tiny CLIP model: the repository's embedded copy (identical files; see __fixtures__/README.md). */
const modelDir = fileURLToPath(new URL('../../../data/models/tiny-clip/', import.meta.url));
const ref = JSON.parse(readFileSync(join(fixture, 'reference.json'), 'utf8')) as {
  texts: string[];
  images: string[];
  input_ids: number[][];
  attention_mask: number[][];
  logits_per_image: number[][];
  text_embeds: number[][];
  image_embeds: number[][];
  logit_scale: number;
};
const pvBytes = readFileSync(join(fixture, 'ref_pixel_values.f32'));
const refPixels = new Float32Array(pvBytes.buffer.slice(pvBytes.byteOffset, pvBytes.byteOffset + pvBytes.byteLength));
const quiet = (): void => undefined;

function maxAbsDiff(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  a.forEach((row, i) => {
    expect(row.length).toBe(b[i]!.length);
    for (let j = 0; j < row.length; j++) m = Math.max(m, Math.abs(row[j]! - b[i]![j]!));
  });
  return m;
}

function copyFixture(omit: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'tiny-clip-'));
  cpSync(modelDir, dir, { recursive: true, filter: (src) => !omit.some((o) => src.endsWith(o)) });
  return dir;
}

const temp: string[] = [];
afterAll(() => temp.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('tokenisation', () => {
  it('matches the reference input_ids and attention_mask (padding to the longest)', async () => {
    const model = await ClipModel.load(modelDir, { logger: quiet });
    const tok = model.tokenize(ref.texts);
    expect(tok.inputIds.dims).toEqual([4, 43]);
    expect((tok.inputIds.tolist() as bigint[][]).map((r) => r.map(Number))).toEqual(ref.input_ids);
    expect((tok.attentionMask.tolist() as bigint[][]).map((r) => r.map(Number))).toEqual(ref.attention_mask);
    expect(model.maxTextTokens).toBe(77);
    await model.dispose();
  });

  it('truncates texts longer than 77 tokens as CLIP does (BOS + 75 tokens + EOS) and reports it', async () => {
    const model = await ClipModel.load(modelDir, { logger: quiet });
    const long = 'x'.repeat(100);
    expect(model.tokenCounts([long])).toEqual([102]);
    const tok = model.tokenize([long]);
    expect(tok.inputIds.dims).toEqual([1, 77]);
    const ids = (tok.inputIds.tolist() as bigint[][])[0]!.map(Number);
    expect(ids[0]).toBe(0); // <|startoftext|>
    expect(ids[76]).toBe(2); // <|endoftext|>
    await model.dispose();
    const calc = await CLIPRewardCalculator.fromPretrained(modelDir, { logger: quiet });
    const [short, cut] = await calc.encodeTexts(['a photo of a cat', long]);
    expect(short).toMatchObject({ tokenCount: 14, truncated: false });
    expect(cut).toMatchObject({ tokenCount: 102, truncated: true });
    const [r] = await calc.calculateRewards([join(fixture, 'ref_image_0.png')], [long]);
    expect(r).toMatchObject({ textTokens: 102, textTruncated: true });
    await calc.dispose();
  });
});

describe.each(['split', 'combined'] as const)('golden embeddings and logits (%s layout)', (layout) => {
  let calc: CLIPRewardCalculator;
  beforeAll(async () => {
    calc = await CLIPRewardCalculator.fromPretrained(modelDir, { layout, logger: quiet });
  });
  afterAll(() => calc.dispose());

  it('uses the requested layout on the CPU with logit scale from model.safetensors', () => {
    expect(calc.layout).toBe(layout);
    expect(calc.device).toBe('cpu');
    expect(calc.logitScale).toBeCloseTo(ref.logit_scale, 5);
  });

  it('image_embeds from the reference pixel_values match to 1e-4', async () => {
    const embeds = await calc.embedPixelValues(refPixels, 3);
    expect(maxAbsDiff(embeds, ref.image_embeds)).toBeLessThan(1e-4);
    for (const e of embeds) expect(Math.hypot(...e)).toBeCloseTo(1, 6);
  });

  it('text_embeds match to 1e-4', async () => {
    expect(maxAbsDiff(await calc.embedTexts(ref.texts), ref.text_embeds)).toBeLessThan(1e-4);
  });

  it('logits_per_image match to 1e-4', async () => {
    const logits = calc.logits(await calc.embedPixelValues(refPixels, 3), await calc.embedTexts(ref.texts));
    expect(maxAbsDiff(logits, ref.logits_per_image)).toBeLessThan(1e-4);
  });

  it('embeds the reference PNGs end to end like the reference pixel_values (to 1e-4)', async () => {
    const fromPng = await calc.embedImages(ref.images.map((f) => join(fixture, f)));
    expect(maxAbsDiff(fromPng, ref.image_embeds)).toBeLessThan(1e-4);
  });
});

describe('model loading', () => {
  it('gives the same embeddings whatever the batch size', async () => {
    const small = await CLIPRewardCalculator.fromPretrained(modelDir, { batchSize: 2, logger: quiet });
    expect(maxAbsDiff(await small.embedPixelValues(refPixels, 3), ref.image_embeds)).toBeLessThan(1e-4);
    expect(maxAbsDiff(await small.embedTexts(ref.texts), ref.text_embeds)).toBeLessThan(1e-4);
    await small.dispose();
  });

  it('measures the logit scale from the combined model when model.safetensors is absent', async () => {
    const dir = copyFixture(['model.safetensors']);
    temp.push(dir);
    const messages: string[] = [];
    const calc = await CLIPRewardCalculator.fromPretrained(dir, { layout: 'combined', logger: (m) => messages.push(m) });
    expect(calc.logitScale).toBeCloseTo(ref.logit_scale, 3);
    expect(messages.join('\n')).toMatch(/logit scale 14\.28\d+ measured/);
    await calc.dispose();
    const split = await CLIPRewardCalculator.fromPretrained(dir, { layout: 'split', logger: quiet });
    expect(split.logitScale).toBe(100);
    await split.dispose();
  });

  it('falls back to the combined model when the split files are absent', async () => {
    const dir = copyFixture(['vision_model.onnx']);
    temp.push(dir);
    const calc = await CLIPRewardCalculator.fromPretrained(dir, { logger: quiet });
    expect(calc.layout).toBe('combined');
    expect(maxAbsDiff(await calc.embedPixelValues(refPixels, 3), ref.image_embeds)).toBeLessThan(1e-4);
    await calc.dispose();
  });

  it('names the missing file of a model folder', async () => {
    const missing = async (omit: string, options: Parameters<typeof CLIPRewardCalculator.fromPretrained>[1] = {}): Promise<ModelFileMissingError> => {
      const dir = copyFixture([omit]);
      temp.push(dir);
      const error = await CLIPRewardCalculator.fromPretrained(dir, { logger: quiet, ...options }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(ModelFileMissingError);
      expect((error as ModelFileMissingError).code).toBe('CLIP_MODEL_FILE_MISSING');
      return error as ModelFileMissingError;
    };
    expect((await missing('tokenizer.json')).file).toBe('tokenizer.json');
    expect((await missing('preprocessor_config.json')).file).toBe('preprocessor_config.json');
    expect((await missing('vision_model.onnx', { layout: 'split' })).file).toBe('onnx/vision_model.onnx');
    const fp16 = await missing('nothing-omitted', { dtype: 'fp16' });
    expect(fp16.file).toBe('onnx/text_model_fp16.onnx');
    expect(fp16.message).toMatch(/model folder .* has no onnx\/text_model_fp16\.onnx/);
    const nowhere = await CLIPRewardCalculator.fromPretrained('/no/such/clip-folder').catch((e: unknown) => e);
    expect(ClipRewardError.isInstance(nowhere) && nowhere.code).toBe('CLIP_MODEL_FILE_MISSING');
  });

  it('device auto takes only hardware (never a software WebGPU adapter) and logs the decision with its reasons', async () => {
    const { cudaProviderStatus, probeWebgpuAdapter } = await import('@vlm-grpo/device');
    const messages: string[] = [];
    const calc = await CLIPRewardCalculator.fromPretrained(modelDir, { device: 'auto', logger: (m) => messages.push(m) });
    const probe = await probeWebgpuAdapter();
    const expected = cudaProviderStatus().ready ? 'cuda' : probe.status === 'hardware' ? 'webgpu' : 'cpu';
    expect(calc.device).toBe(expected);
    const decision = messages.filter((m) => m.startsWith('clip: '));
    expect(decision).toHaveLength(1);
    expect(decision[0]).toMatch(new RegExp(`^clip: ${expected} \\(auto`, 'u'));
    if (probe.status === 'software') expect(decision[0]).toContain('webgpu: software adapter');
    expect(messages.some((m) => m.startsWith('details: clip: '))).toBe(true);
    expect(maxAbsDiff(await calc.embedPixelValues(refPixels, 3), ref.image_embeds)).toBeLessThan(1e-4);
    await calc.dispose();
  });

  it('an explicit GPU device that cannot start is a typed error, not a silent fallback', async () => {
    const result = await CLIPRewardCalculator.fromPretrained(modelDir, { device: 'webgpu', logger: quiet }).catch((e: unknown) => e);
    if (result instanceof CLIPRewardCalculator) {
      expect(result.device).toBe('webgpu');
      await result.dispose();
    } else {
      expect(ClipRewardError.isInstance(result) && result.code).toBe('CLIP_DEVICE_UNAVAILABLE');
      expect((result as Error).message).toMatch(/device webgpu is not available/);
    }
  });

  it('loads a Hub id from the Hugging Face cache layout with localFilesOnly, and names a missing one', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'hf-cache-'));
    temp.push(cache);
    const commit = 'b'.repeat(40);
    cpSync(modelDir, join(cache, 'models--test-org--tiny-clip', 'snapshots', commit), { recursive: true });
    mkdirSync(join(cache, 'models--test-org--tiny-clip', 'refs'));
    writeFileSync(join(cache, 'models--test-org--tiny-clip', 'refs', 'main'), commit);
    const calc = await CLIPRewardCalculator.fromPretrained('test-org/tiny-clip', { localFilesOnly: true, cacheDir: cache, logger: quiet });
    expect(calc.source).toBe('test-org/tiny-clip');
    expect(calc.layout).toBe('split');
    expect(maxAbsDiff(await calc.embedPixelValues(refPixels, 3), ref.image_embeds)).toBeLessThan(1e-4);
    await calc.dispose();
    const error = await CLIPRewardCalculator.fromPretrained('Xenova/clip-vit-base-patch32', { localFilesOnly: true, cacheDir: cache }).catch((e: unknown) => e);
    expect(ClipRewardError.isInstance(error) && error.code).toBe('CLIP_MODEL_FILE_MISSING');
    expect((error as Error).message).toMatch(/^Xenova\/clip-vit-base-patch32: config\.json \(config\.json\) is missing: not in the cache .*localFilesOnly/);
  });

  it('loads the original OpenAI id through its ONNX export, downloading into the shared cache, with a log line', async () => {
    const cache = mkdtempSync(join(tmpdir(), 'hf-cache-'));
    temp.push(cache);
    const requests: string[] = [];
    const server = createServer((request, response) => {
      requests.push(request.url ?? '');
      const match = /^\/Xenova\/clip-vit-base-patch32\/resolve\/main\/(.+)$/u.exec(request.url ?? '');
      const file = match ? join(modelDir, decodeURIComponent(match[1]!)) : '';
      if (!match || !existsSync(file)) {
        response.statusCode = 404;
        response.end();
        return;
      }
      response.setHeader('x-repo-commit', 'c'.repeat(40));
      response.end(readFileSync(file));
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const endpoint = process.env['HF_ENDPOINT'];
    process.env['HF_ENDPOINT'] = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const logs: string[] = [];
    try {
      const calc = await CLIPRewardCalculator.fromPretrained('openai/clip-vit-base-patch32', { cacheDir: cache, logger: (message) => logs.push(message) });
      expect(logs[0]).toBe('openai/clip-vit-base-patch32 has no ONNX files; using its ONNX export Xenova/clip-vit-base-patch32 (same weights, transformers.js layout)');
      expect(calc.source).toBe('Xenova/clip-vit-base-patch32');
      expect(maxAbsDiff(await calc.embedPixelValues(refPixels, 3), ref.image_embeds)).toBeLessThan(1e-4);
      await calc.dispose();
      expect(existsSync(join(cache, 'models--Xenova--clip-vit-base-patch32', 'snapshots', 'c'.repeat(40), 'onnx', 'vision_model.onnx'))).toBe(true);
      // Only what the layout needs: no model.safetensors, no other dtype.
      expect(requests.some((url) => url.endsWith('model.safetensors') || url.includes('_fp16'))).toBe(false);
    } finally {
      if (endpoint === undefined) delete process.env['HF_ENDPOINT'];
      else process.env['HF_ENDPOINT'] = endpoint;
      server.close();
    }
  });

  it('refuses ONNX external data that escapes the model folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tiny-clip-evil-'));
    temp.push(dir);
    cpSync(modelDir, dir, { recursive: true });
    // A TensorProto initializer stored externally at "../../../etc/passwd" (hand-written protobuf).
    const varint = (v: number): number[] => (v < 0x80 ? [v] : [(v % 128) | 0x80, ...varint(Math.floor(v / 128))]);
    const bytes = (f: number, b: number[]) => [...varint(f * 8 + 2), ...varint(b.length), ...b];
    const str = (f: number, t: string) => bytes(f, [...Buffer.from(t)]);
    const int = (f: number, v: number) => [...varint(f * 8), ...varint(v)];
    const tensor = [...int(1, 1), ...int(2, 1), ...str(8, 'w'), ...bytes(13, [...str(1, 'location'), ...str(2, '../../../etc/passwd')]), ...int(14, 1)];
    writeFileSync(join(dir, 'onnx', 'text_model.onnx'), Uint8Array.from([...int(1, 8), ...bytes(7, [...str(2, 'g'), ...bytes(5, tensor)])]));
    const error = await ClipModel.load(dir, { logger: quiet }).catch((e: unknown) => e);
    expect(ClipRewardError.isInstance(error) && error.code).toBe('CLIP_INVALID_CONFIG');
    expect((error as Error).message).toMatch(/text_model\.onnx \(external data\).*escapes the model folder/);
  });

  it('leaves transformers.js env as it was (options are per call)', async () => {
    const { env } = await import('@huggingface/transformers');
    const before = { remote: env.allowRemoteModels, path: env.localModelPath, cache: env.cacheDir };
    const calc = await CLIPRewardCalculator.fromPretrained(modelDir, { logger: quiet });
    expect({ remote: env.allowRemoteModels, path: env.localModelPath, cache: env.cacheDir }).toEqual(before);
    await calc.dispose();
    const error = await calc.embedTexts(['after dispose']).catch((e: unknown) => e);
    expect(ClipRewardError.isInstance(error) && error.code).toBe('CLIP_DISPOSED');
  });
});
