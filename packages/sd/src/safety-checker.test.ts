import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SafetyChecker } from './index.js';
import { tinySdModelDir } from './__fixtures__/golden.js';

// tiny-safety's checker has diffusers' ONNX contract with a known rule: an image is flagged when
// its mean normalised CLIP pixel is > 0 (make-safety-checker.mjs), i.e. bright images.
const fixture = new URL('./__fixtures__/tiny-safety/', import.meta.url).pathname;
const solid = (value: number, width = 64, height = 48) => ({ data: new Uint8Array(width * height * 3).fill(value), width, height });

describe('SafetyChecker', () => {
  it('runs the folder\'s safety_checker/model.onnx with CLIP preprocessing', async () => {
    const checker = (await SafetyChecker.fromPretrained(fixture))!;
    expect(checker).toBeDefined();
    const results = await checker.check([solid(255), solid(0), solid(200, 30, 90), solid(20)]);
    expect(results).toEqual([
      { flagged: true, score: 1 },
      { flagged: false, score: 0 },
      { flagged: true, score: 1 },
      { flagged: false, score: 0 },
    ]);
    await checker.dispose();
  });

  it('uses the threshold on the flag output', async () => {
    const strict = (await SafetyChecker.fromPretrained(fixture, { threshold: 1 }))!;
    expect((await strict.check([solid(255)]))[0]).toEqual({ flagged: false, score: 1 });
    await strict.dispose();
    await expect(SafetyChecker.fromPretrained(fixture, { threshold: Number.NaN })).rejects.toThrow(/threshold/u);
  });

  it('is undefined for a model without a safety checker', async () => {
    expect(await SafetyChecker.fromPretrained(tinySdModelDir)).toBeUndefined();
    const scratch = mkdtempSync(join(tmpdir(), 'sd-safety-'));
    try {
      // Offline and not cached: no checker, no network.
      expect(await SafetyChecker.fromPretrained('org/none', { cacheDir: scratch, localFilesOnly: true })).toBeUndefined();
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  });

  it('rejects image data of the wrong size', async () => {
    const checker = (await SafetyChecker.fromPretrained(fixture))!;
    await expect(checker.check([{ data: new Uint8Array(10), width: 4, height: 4 }])).rejects.toThrow(/10 bytes, expected 4×4×3/u);
    await checker.dispose();
  });
});
