/**
 * The WebGPU execution provider (onnxruntime-node through transformers.js) against the Python
 * reference embeddings of the tiny CLIP (the same values as the CPU golden tests), in both ONNX
 * layouts; the split layout keeps last_hidden_state on the GPU unread. Skipped where no WebGPU
 * adapter initialises, except in CI (`CI` set), where .ci/run installs Mesa's lavapipe and a
 * missing adapter fails the file; for speed, run on a GPU machine with tools/device (see
 * BENCHMARKS.md).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIPRewardCalculator } from './clip-reward-calculator.js';

const fixture = fileURLToPath(new URL('./__fixtures__/tiny-clip/', import.meta.url));
const modelDir = fileURLToPath(new URL('../../../data/models/tiny-clip/', import.meta.url));
const ref = JSON.parse(readFileSync(join(fixture, 'reference.json'), 'utf8')) as { texts: string[]; text_embeds: number[][]; image_embeds: number[][] };
const pvBytes = readFileSync(join(fixture, 'ref_pixel_values.f32'));
const refPixels = new Float32Array(pvBytes.buffer.slice(pvBytes.byteOffset, pvBytes.byteOffset + pvBytes.byteLength));
const quiet = (): void => undefined;

const webgpu = await CLIPRewardCalculator.fromPretrained(modelDir, { device: 'webgpu', logger: quiet }).then(
  async (calc) => {
    await calc.dispose();
    return { ok: true, reason: '' };
  },
  (error: unknown) => ({ ok: false, reason: (error as Error).message }),
);

// CI installs Mesa's lavapipe (.ci/run): there a missing adapter fails this file instead of skipping it.
it.runIf(!webgpu.ok && Boolean(process.env.CI))('a WebGPU adapter initialises (required in CI: .ci/run installs lavapipe, VK_DRIVER_FILES)', () => {
  throw new Error(`no WebGPU adapter although CI is set: ${webgpu.reason}`);
});

function maxAbsDiff(a: ArrayLike<number>[], b: ArrayLike<number>[]): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  a.forEach((row, i) => {
    for (let j = 0; j < row.length; j++) m = Math.max(m, Math.abs(row[j]! - b[i]![j]!));
  });
  return m;
}

describe.skipIf(!webgpu.ok).each(['split', 'combined'] as const)('CLIP on WebGPU (%s layout) vs transformers 5.17', (layout) => {
  let calc: CLIPRewardCalculator;
  beforeAll(async () => {
    calc = await CLIPRewardCalculator.fromPretrained(modelDir, { device: 'webgpu', layout, logger: quiet });
  });
  afterAll(() => calc?.dispose());

  it('runs on webgpu', () => {
    expect(calc.device).toBe('webgpu');
    expect(calc.layout).toBe(layout);
  });

  it('image_embeds from the reference pixel_values match to 1e-4', async () => {
    expect(maxAbsDiff(await calc.embedPixelValues(refPixels, 3), ref.image_embeds)).toBeLessThan(1e-4);
  });

  it('text_embeds match to 1e-4', async () => {
    expect(maxAbsDiff(await calc.embedTexts(ref.texts), ref.text_embeds)).toBeLessThan(1e-4);
  });
});
