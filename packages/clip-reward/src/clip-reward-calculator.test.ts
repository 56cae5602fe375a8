import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIPRewardCalculator } from './clip-reward-calculator.js';
import { ClipRewardError, EmptyTextError, ImageInputError, MismatchedLengthsError } from './errors.js';
import { decodeImage } from './image-input.js';
import { imageQuality } from './image-quality.js';
import { encodeSafetensors } from './safetensors.js';

const fixture = fileURLToPath(new URL('./__fixtures__/tiny-clip/', import.meta.url));
/** The tiny CLIP model: the repository's embedded copy (identical files; see __fixtures__/README.md). */
const modelDir = fileURLToPath(new URL('../../../data/models/tiny-clip/', import.meta.url));
const ref = JSON.parse(readFileSync(join(fixture, 'reference.json'), 'utf8')) as {
  texts: string[];
  images: string[];
  logits_per_image: number[][];
  image_embeds: number[][];
  logit_scale: number;
};
const pngs = ref.images.map((f) => join(fixture, f));
const quiet = (): void => undefined;
/** Golden cos(image i, text j) = logits_per_image / logit_scale (reference). */
const refCos = (i: number, j: number): number => ref.logits_per_image[i]![j]! / ref.logit_scale;
const refImageCos = (a: number, b: number): number => ref.image_embeds[a]!.reduce((s, v, k) => s + v * ref.image_embeds[b]![k]!, 0);

async function errorOf(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (e: unknown) => e,
  );
}

let calc: CLIPRewardCalculator;
const temp = mkdtempSync(join(tmpdir(), 'clip-reward-'));
beforeAll(async () => {
  calc = await CLIPRewardCalculator.fromPretrained(modelDir, { logger: quiet });
});
afterAll(async () => {
  await calc.dispose();
  rmSync(temp, { recursive: true, force: true });
});

describe('CLIPRewardCalculator rewards', () => {
  it('similarity is max(100·cos, 0) of the reference cosines; calculateReward returns its total', async () => {
    const results = await calc.calculateRewards(pngs, ref.texts.slice(0, 3));
    results.forEach((r, i) => {
      expect(r.raw.similarity).toBeCloseTo(Math.max(100 * refCos(i, i), 0), 3);
      expect(r.total).toBe(r.components.similarity);
      expect(r.weights).toEqual({ similarity: 1 });
      expect(r.textTruncated).toBe(false);
    });
    expect(await calc.calculateReward(pngs[0]!, ref.texts[0]!)).toBeCloseTo(100 * refCos(0, 0), 3);
  });

  it('accepts paths, Buffers, sharp instances and raw RGB/RGBA/float pixels alike', async () => {
    const rgb = await decodeImage(pngs[0]!);
    const rgba = new Uint8Array((rgb.data.length / 3) * 4).fill(255);
    const floats = new Float32Array(rgb.data.length);
    rgb.data.forEach((v, i) => {
      rgba[Math.floor(i / 3) * 4 + (i % 3)] = v;
      floats[i] = v / 255;
    });
    const embeds = await calc.embedImages([
      pngs[0]!,
      readFileSync(pngs[0]!),
      sharp(pngs[0]!),
      rgb,
      { data: rgba, width: rgb.width, height: rgb.height },
      { data: floats, width: rgb.width, height: rgb.height },
    ]);
    for (const e of embeds) e.forEach((v, k) => expect(v).toBeCloseTo(ref.image_embeds[0]![k]!, 4));
  });

  it('combines relevance, consistency, quality, aesthetic and custom components with weights', async () => {
    const headPath = join(temp, 'head.safetensors');
    const w = Array.from({ length: 16 }, (_, k) => (k % 3) - 1);
    writeFileSync(headPath, encodeSafetensors({ weight: { data: w, shape: [1, 16] }, bias: { data: [5], shape: [1] } }));
    const c = await CLIPRewardCalculator.fromPretrained(modelDir, {
      logger: quiet,
      rewards: {
        similarity: { weight: 0.5, mode: 'cosine' },
        relevanceToOriginal: { weight: 2, mode: 'promptistGate' },
        consistency: { weight: 1 },
        quality: { weight: 0.25 },
        aesthetic: { weight: 0.1, head: headPath },
        custom: [{ name: 'length', weight: -0.01, fn: (ctx) => ctx.texts.map((t) => t.length) }],
      },
    });
    expect(c.componentNames).toEqual(['similarity', 'relevanceToOriginal', 'consistency', 'quality', 'aesthetic', 'length']);
    const texts = ['enhanced one', 'enhanced two', 'enhanced three'];
    const originals = ['cat', 'cat', 'dog'];
    const results = await c.calculateRewards(pngs, texts, { originalPrompts: originals });
    const textCos = 1; // the tiny tokenizer maps every text to the same embedding (see reference text_embeds)
    for (const [i, r] of results.entries()) {
      expect(r.raw.similarity).toBeCloseTo(refCos(i, 0), 5);
      const gate = Math.min(20 * (refCos(i, 0) - 0.28), 0);
      expect(r.raw.relevanceToOriginal).toBeCloseTo(gate, 4);
      // images 0 and 1 share the original prompt "cat": consistency = (text cos + image cos)/2
      const expectedConsistency = i < 2 ? (textCos + refImageCos(0, 1)) / 2 : textCos;
      expect(r.raw.consistency).toBeCloseTo(expectedConsistency, 5);
      expect(r.raw.quality).toBeCloseTo(imageQuality(await decodeImage(pngs[i]!)).score, 12);
      expect(r.quality!.checks.notBlank).toBeGreaterThan(0);
      expect(r.raw.aesthetic).toBeCloseTo(5 + ref.image_embeds[i]!.reduce((s, v, k) => s + v * w[k]!, 0), 4);
      expect(r.raw.length).toBe(texts[i]!.length);
      const total = Object.keys(r.weights).reduce((s, k) => s + r.weights[k]! * r.components[k]!, 0);
      expect(r.total).toBeCloseTo(total, 12);
      expect(r.originalTruncated).toBe(false);
    }
    await c.dispose();
  });

  it('groups by explicit labels for the image part of consistency', async () => {
    const c = await CLIPRewardCalculator.fromPretrained(modelDir, { logger: quiet, rewards: { consistency: { textWeight: 0 } } });
    const r = await c.calculateRewards(pngs, ['a', 'b', 'c'], { groups: ['g', 'g', 'g'] });
    expect(r[0]!.raw.consistency).toBeCloseTo((refImageCos(0, 1) + refImageCos(0, 2)) / 2, 5);
    expect(r[2]!.raw.consistency).toBeCloseTo((refImageCos(2, 0) + refImageCos(2, 1)) / 2, 5);
    await expect(c.calculateRewards(pngs.slice(0, 1), ['a'])).rejects.toThrow(/needs originalPrompts/);
    await c.dispose();
  });

  it('normalises per component before weighting, and saves/restores running z-scores', async () => {
    const options = {
      logger: quiet,
      rewards: {
        similarity: { weight: 2, normalize: [{ type: 'zscore' as const, epsilon: 0 }, { type: 'clip' as const, min: -1, max: 1 }] },
        quality: { normalize: { type: 'affine' as const, scale: 10, shift: -1 } },
      },
    };
    const a = await CLIPRewardCalculator.fromPretrained(modelDir, options);
    const r1 = await a.calculateRewards(pngs, ['x', 'y', 'z']);
    const sims = r1.map((r) => r.raw.similarity!);
    const mean = sims.reduce((s, v) => s + v, 0) / 3;
    const std = Math.sqrt(sims.reduce((s, v) => s + (v - mean) ** 2, 0) / 3);
    r1.forEach((r, i) => {
      expect(r.components.similarity).toBeCloseTo(Math.max(-1, Math.min(1, (sims[i]! - mean) / std)), 9);
      expect(r.components.quality).toBeCloseTo(10 * r.raw.quality! - 1, 12);
      expect(r.total).toBeCloseTo(2 * r.components.similarity! + r.components.quality!, 12);
    });
    const saved = JSON.parse(JSON.stringify(a.getNormalizationState()));
    expect(saved.similarity[0]).toMatchObject({ type: 'zscore', count: 3 });
    const b = await CLIPRewardCalculator.fromPretrained(modelDir, options);
    b.setNormalizationState(saved);
    const next = [pngs[1]!, pngs[1]!];
    expect(await b.calculateRewards(next, ['p', 'q'])).toEqual(await a.calculateRewards(next, ['p', 'q']));
    // Evaluation mode leaves the statistics alone.
    const before = JSON.stringify(b.getNormalizationState());
    await b.calculateRewards(next, ['p', 'q'], { updateNormalization: false });
    expect(JSON.stringify(b.getNormalizationState())).toBe(before);
    expect(() => b.setNormalizationState({ nope: [] })).toThrow(/not configured/);
    b.resetNormalization();
    expect(b.getNormalizationState().similarity![0]).toMatchObject({ count: 0 });
    await a.dispose();
    await b.dispose();
  });

  it('caches text embeddings (LRU) so repeated prompts are not re-encoded', async () => {
    const c = await CLIPRewardCalculator.fromPretrained(modelDir, { logger: quiet, textCacheSize: 2 });
    await c.embedTexts(['one', 'two', 'one']);
    expect(c.textCacheStats).toMatchObject({ hits: 0, misses: 2, size: 2 });
    await c.embedTexts(['one', 'two']);
    expect(c.textCacheStats).toMatchObject({ hits: 2, misses: 2 });
    await c.embedTexts(['three']);
    await c.embedTexts(['one']); // 'three' evicted 'one' (least recently used), so this misses
    expect(c.textCacheStats).toMatchObject({ hits: 2, misses: 4, size: 2 });
    c.clearTextCache();
    expect(c.textCacheStats.size).toBe(0);
    await c.dispose();
  });
});

describe('CLIPRewardCalculator errors', () => {
  it('mismatched lengths, empty text and bad images are typed errors', async () => {
    const lengths = await errorOf(calc.calculateRewards(pngs, ['a', 'b']));
    expect(lengths).toBeInstanceOf(MismatchedLengthsError);
    expect((lengths as MismatchedLengthsError).message).toBe('images has 3 item(s) but texts has 2: they must pair up one to one');
    expect(await errorOf(calc.calculateRewards(pngs, ['a', 'b', 'c'], { originalPrompts: ['x'] }))).toBeInstanceOf(MismatchedLengthsError);
    const empty = await errorOf(calc.calculateRewards(pngs, ['a', '  ', 'c']));
    expect(empty).toBeInstanceOf(EmptyTextError);
    expect((empty as EmptyTextError).index).toBe(1);
    expect(await errorOf(calc.embedTexts(['']))).toMatchObject({ code: 'CLIP_EMPTY_TEXT' });
    const corrupt = await errorOf(calc.calculateRewards([pngs[0]!, readFileSync(pngs[1]!).subarray(0, 30)], ['a', 'b']));
    expect(corrupt).toBeInstanceOf(ImageInputError);
    expect(corrupt).toMatchObject({ code: 'CLIP_CORRUPT_IMAGE', index: 1 });
    expect(await errorOf(calc.embedImages([new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])]))).toMatchObject({ code: 'CLIP_UNSUPPORTED_IMAGE' });
    expect(await errorOf(calc.embedImages([{ data: new Uint8Array(0), width: 0, height: 0 }]))).toMatchObject({ code: 'CLIP_ZERO_SIZE_IMAGE' });
    expect(await calc.calculateRewards([], [])).toEqual([]);
  });

  it('rejects unknown option keys and bad reward configs with CLIP_INVALID_CONFIG', async () => {
    const bad = async (options: object, pattern: RegExp): Promise<void> => {
      const e = await errorOf(CLIPRewardCalculator.fromPretrained(modelDir, { logger: quiet, ...options }));
      expect(ClipRewardError.isInstance(e) && e.code).toBe('CLIP_INVALID_CONFIG');
      expect((e as Error).message).toMatch(pattern);
    };
    await bad({ batchsize: 3 }, /batchsize/);
    await bad({ rewards: { similarity: { mode: 'dot' } } }, /options: rewards\.similarity\.mode: Invalid option/);
    await bad({ rewards: { simlarity: {} } }, /simlarity/);
    await bad({ rewards: { similarity: false } }, /no component is enabled/);
    await bad({ rewards: { custom: [{ name: 'similarity', fn: () => [] }] } }, /already used/);
    await bad({ rewards: { quality: { normalize: { type: 'zscore', eps: 1 } } } }, /rewards\.quality\.normalize\[0\]: unknown key "eps"/);
    const e = await errorOf(CLIPRewardCalculator.fromPretrained('', {}));
    expect(e).toMatchObject({ code: 'CLIP_INVALID_ARGUMENT' });
  });

  it('a custom component returning the wrong count or non-finite values is reported by name', async () => {
    const c = await CLIPRewardCalculator.fromPretrained(modelDir, {
      logger: quiet,
      rewards: { custom: [{ name: 'broken', fn: (ctx) => ctx.texts.map(() => Number.NaN) }] },
    });
    await expect(c.calculateRewards([pngs[0]!], ['a'])).rejects.toThrow(/component "broken" returned NaN for pair 0/);
    await c.setRewards({ custom: [{ name: 'short', fn: async () => [] }] });
    await expect(c.calculateRewards([pngs[0]!], ['a'])).rejects.toThrow(/component "short" returned 0 value\(s\) for 1 pair/);
    await c.dispose();
  });
});
