import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AestheticHead } from './aesthetic-head.js';
import { ClipRewardError } from './errors.js';
import { encodeSafetensors } from './safetensors.js';

describe('AestheticHead', () => {
  it('scores with a single linear layer (LAION v1 layout) on the normalised embedding', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'head-'));
    const path = join(dir, 'linear.safetensors');
    writeFileSync(path, encodeSafetensors({ weight: { data: [1, 2, 3, 4], shape: [1, 4] }, bias: { data: [0.5], shape: [1] } }));
    const head = await AestheticHead.fromSafetensors(path);
    expect(head.inputDim).toBe(4);
    // e = [2, 0, 0, 0] → normalised [1, 0, 0, 0] → 1·1 + 0.5
    expect(head.score([2, 0, 0, 0])).toBeCloseTo(1.5, 12);
    // e = [1, 1, 1, 1]/2 → (1 + 2 + 3 + 4)/2 + 0.5 = 5.5
    expect(head.score([3, 3, 3, 3])).toBeCloseTo(5.5, 6);
    const raw = await AestheticHead.fromSafetensors(path, { normalizeInput: false });
    expect(raw.score([2, 0, 0, 0])).toBeCloseTo(2.5, 12);
  });

  it('chains LAION MLP layers in numeric order (layers.0, .2, …, .10) with optional ReLU', async () => {
    // Deliberately listed out of order; "layers.10" must come after "layers.2".
    const bytes = encodeSafetensors({
      'layers.10.weight': { data: [1, -1], shape: [1, 2] },
      'layers.10.bias': { data: [0.25], shape: [1] },
      'layers.0.weight': { data: [1, 0, 0, 1, -1, 0], shape: [3, 2] },
      'layers.0.bias': { data: [0, 0, 0], shape: [3] },
      'layers.2.weight': { data: [1, 1, 0, 0, 0, 1], shape: [2, 3] },
    });
    const dir = mkdtempSync(join(tmpdir(), 'head-'));
    writeFileSync(join(dir, 'mlp.safetensors'), bytes);
    const head = await AestheticHead.fromSafetensors(join(dir, 'mlp.safetensors'), { normalizeInput: false });
    // x=[2,1] → L0 [2,1,-2] → L2 [3,-2] → L10 3 + 2 + 0.25
    expect(head.score([2, 1])).toBeCloseTo(5.25, 12);
    const relu = await AestheticHead.fromSafetensors(join(dir, 'mlp.safetensors'), { normalizeInput: false, activation: 'relu' });
    // relu: [2,1,0] → [3,0] → 3 + 0.25
    expect(relu.score([2, 1])).toBeCloseTo(3.25, 12);
    const gelu = await AestheticHead.fromSafetensors(join(dir, 'mlp.safetensors'), { normalizeInput: false, activation: 'gelu' });
    // gelu(2)=1.9544997361, gelu(1)=0.8413447461, gelu(-2)=-0.0455002639 → L2 [2.795844482, -0.045500264] → gelu → …
    const g = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));
    const h1 = [g(2), g(1), g(-2)];
    const h2 = [g(h1[0]! + h1[1]!), g(h1[2]!)];
    expect(gelu.score([2, 1])).toBeCloseTo(h2[0]! - h2[1]! + 0.25, 6);
  });

  it('rejects heads that do not chain or do not end in one output, and wrong embedding sizes', () => {
    expect(() => new AestheticHead([{ weight: new Float32Array(6), inFeatures: 2, outFeatures: 3 }])).toThrow(/outputs 3 values, expected 1/);
    expect(
      () =>
        new AestheticHead([
          { weight: new Float32Array(6), inFeatures: 2, outFeatures: 3 },
          { weight: new Float32Array(2), inFeatures: 2, outFeatures: 1 },
        ]),
    ).toThrow(/layer 0 outputs 3 but layer 1 takes 2/);
    const head = new AestheticHead([{ weight: new Float32Array(2), inFeatures: 2, outFeatures: 1 }]);
    let caught: unknown;
    try {
      head.score([1, 2, 3]);
    } catch (error) {
      caught = error;
    }
    expect(ClipRewardError.isInstance(caught) && caught.code).toBe('CLIP_INVALID_CONFIG');
  });
});

/** Reference erf by series (accurate to ~1e-15 for |x| < 3). */
function erf(x: number): number {
  let sum = 0;
  let term = x;
  for (let n = 0; n < 80; n++) {
    sum += term / (2 * n + 1);
    term *= (-x * x) / (n + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
