/**
 * LAION-style aesthetic predictor: a linear layer or an MLP on the (L2-normalised) CLIP image
 * embedding, loaded from safetensors.
 *
 * Reference: christophschuhmann/improved-aesthetic-predictor `MLP` — nn.Sequential of
 * Linear(768,1024), Dropout, Linear(1024,128), Dropout, Linear(128,64), Dropout, Linear(64,16),
 * Linear(16,1), no activations (`linearMSE`), saved with keys `layers.{0,2,4,6,7}.{weight,bias}`;
 * the older LAION "aesthetic v1" head is a single Linear(768,1) (`weight`, `bias`). Inference:
 *   x = e / ‖e‖  (image embedding [D]),  for each layer: x = W·x + b  (W [out, in], torch layout),
 *   with an optional activation between layers; the output has one value: the score.
 * Dropout is the identity at inference. Layers are found as every rank-2 `<prefix>weight` with an
 * optional rank-1 `<prefix>bias`, ordered by prefix with numbers compared numerically, and must
 * chain (out of one = in of the next, last out = 1). Computed in float64.
 * Convert a `.pth` head once in Python: `safetensors.torch.save_file(torch.load(p), "head.safetensors")`.
 */
import { ClipRewardError } from './errors.js';
import { SafetensorsFile } from './safetensors.js';
import { l2Normalize } from './vector-math.js';

/** Activation between layers (LAION's linearMSE head uses none). */
export type HeadActivation = 'none' | 'relu' | 'gelu';

/** One dense layer: y = W·x + b. */
export interface DenseLayer {
  /** Weight, row-major [outFeatures, inFeatures] (torch `nn.Linear.weight` layout). */
  weight: Float32Array;
  /** Bias [outFeatures] (zeros when absent). */
  bias?: Float32Array;
  /** Input size. */
  inFeatures: number;
  /** Output size. */
  outFeatures: number;
}

/** Options of {@link AestheticHead}. */
export interface AestheticHeadOptions {
  /** Activation applied after every layer but the last (default: `none`). */
  activation?: HeadActivation;
  /** L2-normalise the embedding before the first layer (default: true; LAION normalises). */
  normalizeInput?: boolean;
}

function naturalCompare(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    const x = pa[i]!;
    const y = pb[i]!;
    if (x === y) continue;
    const nx = Number(x);
    const ny = Number(y);
    if (i % 2 === 1 && Number.isFinite(nx) && Number.isFinite(ny)) return nx - ny;
    return x < y ? -1 : 1;
  }
  return pa.length - pb.length;
}

function gelu(x: number): number {
  // torch's default (erf) GELU; erf from Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
  const z = x / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * Math.abs(z));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-z * z);
  const erf = z >= 0 ? y : -y;
  return 0.5 * x * (1 + erf);
}

/** A linear/MLP scoring head on CLIP image embeddings. */
export class AestheticHead {
  /** The layers, in order. */
  readonly layers: readonly DenseLayer[];
  /** Activation between layers. */
  readonly activation: HeadActivation;
  /** Whether inputs are L2-normalised first. */
  readonly normalizeInput: boolean;

  constructor(layers: readonly DenseLayer[], options: AestheticHeadOptions = {}) {
    if (layers.length === 0) throw new ClipRewardError('CLIP_INVALID_CONFIG', 'aesthetic head: no layers');
    for (const [i, l] of layers.entries()) {
      if (l.weight.length !== l.inFeatures * l.outFeatures) {
        throw new ClipRewardError('CLIP_INVALID_CONFIG', `aesthetic head layer ${i}: weight has ${l.weight.length} values, expected ${l.outFeatures}×${l.inFeatures}`);
      }
      if (l.bias && l.bias.length !== l.outFeatures) {
        throw new ClipRewardError('CLIP_INVALID_CONFIG', `aesthetic head layer ${i}: bias has ${l.bias.length} values, expected ${l.outFeatures}`);
      }
      const next = layers[i + 1];
      if (next && next.inFeatures !== l.outFeatures) {
        throw new ClipRewardError('CLIP_INVALID_CONFIG', `aesthetic head: layer ${i} outputs ${l.outFeatures} but layer ${i + 1} takes ${next.inFeatures}`);
      }
    }
    if (layers.at(-1)!.outFeatures !== 1) {
      throw new ClipRewardError('CLIP_INVALID_CONFIG', `aesthetic head: last layer outputs ${layers.at(-1)!.outFeatures} values, expected 1`);
    }
    this.layers = layers;
    this.activation = options.activation ?? 'none';
    this.normalizeInput = options.normalizeInput ?? true;
  }

  /** Embedding size the head expects. */
  get inputDim(): number {
    return this.layers[0]!.inFeatures;
  }

  /** Load the layers from a safetensors file (F32, F16, BF16 or F64). */
  static async fromSafetensors(path: string, options: AestheticHeadOptions = {}): Promise<AestheticHead> {
    return AestheticHead.fromSafetensorsFile(await SafetensorsFile.read(path), options, path);
  }

  /** Build a head from a parsed safetensors file. */
  static fromSafetensorsFile(file: SafetensorsFile, options: AestheticHeadOptions = {}, name = '<buffer>'): AestheticHead {
    const prefixes = file
      .names()
      .filter((n) => n.endsWith('weight') && file.info(n)!.shape.length === 2)
      .map((n) => n.slice(0, -'weight'.length))
      .sort(naturalCompare);
    if (prefixes.length === 0) throw new ClipRewardError('CLIP_INVALID_CONFIG', `${name}: no rank-2 "*weight" tensors, so no dense layers`);
    const layers = prefixes.map((prefix): DenseLayer => {
      const [outFeatures, inFeatures] = file.info(`${prefix}weight`)!.shape as [number, number];
      const biasInfo = file.info(`${prefix}bias`);
      return {
        weight: file.getFloat32(`${prefix}weight`),
        bias: biasInfo ? file.getFloat32(`${prefix}bias`) : undefined,
        inFeatures,
        outFeatures,
      };
    });
    return new AestheticHead(layers, options);
  }

  /** Score one embedding. */
  score(embedding: ArrayLike<number>): number {
    if (embedding.length !== this.inputDim) {
      throw new ClipRewardError(
        'CLIP_INVALID_CONFIG',
        `aesthetic head expects ${this.inputDim}-dimensional image embeddings, got ${embedding.length} (head made for another CLIP model?)`,
      );
    }
    let x: ArrayLike<number> = this.normalizeInput ? l2Normalize(embedding) : embedding;
    for (const [li, layer] of this.layers.entries()) {
      const y = new Float64Array(layer.outFeatures);
      for (let o = 0; o < layer.outFeatures; o++) {
        let s = layer.bias ? layer.bias[o]! : 0;
        const row = o * layer.inFeatures;
        for (let i = 0; i < layer.inFeatures; i++) s += layer.weight[row + i]! * x[i]!;
        y[o] = s;
      }
      if (li < this.layers.length - 1 && this.activation !== 'none') {
        for (let o = 0; o < y.length; o++) y[o] = this.activation === 'relu' ? Math.max(0, y[o]!) : gelu(y[o]!);
      }
      x = y;
    }
    return x[0]!;
  }
}
