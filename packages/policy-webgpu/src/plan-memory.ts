/**
 * The GPU memory of one recorded training plan (engine.ts `buildPlan`) in closed form, by role,
 * for any model configuration and batch shape, without a device: what `planMemory` measures on
 * a real plan (a test checks both agree byte for byte on the tiny fixtures), used to size
 * batches and for the README's figures at real scale.
 *
 * Shapes (R = N·S token rows, S = Lp + Tc with Lp, Tc the prompt and completion lengths rounded
 * up to 8; Rsel = N·Tc rows reach the vocabulary; C width, M MLP width, P = M (GPT-2) or 2·M
 * (gate|up), Wq = (H + 2·Hkv)·D packed q|k|v width, H·D attention width, V vocabulary, L blocks),
 * in elements; b = 4 bytes (fp32) or 2 (f16, `precision: 'f16'`) for ln₁, ln₂ and the MLP
 * activation, the tensors only matmuls read:
 *   per block set:  mid R·C·4, ln₁ and ln₂ R·C·b each, norm statistics 2·2R·4, q|k|v R·Wq·4,
 *                   attention output R·H·D·4, log-sum-exp R·H·4, MLP pre-activation R·P·4,
 *                   MLP activation R·M·b;
 *   block sets:     L (`recompute: 'none'`) or 1 (`'layer'`), plus the residual stream
 *                   (L + 1)·R·C·4 kept in both modes;
 *   tail:           final norm R·C·4 (f16: an R·max(C, M)·4 staging buffer that the norms and the
 *                   MLP activation write before their f16 cast also holds it) and its statistics
 *                   2R·4, selected rows Rsel·C·4 (f16: + Rsel·C·2), logits Rsel·V·4, classifier
 *                   output Rsel·3·4; f16 adds the attention output's f16 copy R·H·D·2.
 * Every buffer is rounded up to 16 bytes (at least 16), as gpu.ts allocates them.
 */
import type { EngineModelConfig, EnginePrecision, EngineRecompute, PlanMemory, PlanShape } from './model-types.js';
import { f16ScalePartials } from './kernels/f16-scale.js';
import { COLUMN_CHUNK } from './kernels/matmul.js';

/** Shape bucket rounding (positions) of prompts and completions, as the engine uses it. */
export const PLAN_BUCKET = 8;

/** Bytes gpu.ts allocates for `bytes` (multiples of 16, at least 16). */
function allocated(bytes: number): number {
  return Math.max(16, Math.ceil(bytes / 16) * 16);
}

/** Allocated bytes of `count` fp32 or f16 elements (f16: whole 32-bit words, as the casts write them). */
export function bufferBytes(count: number, type: 'f32' | 'f16' = 'f32'): number {
  return allocated(type === 'f32' ? count * 4 : Math.ceil(count / 2) * 4);
}

/** The plan memory of `shape` for a model (see the file header); defaults: fp32, no recomputation. */
export function estimatePlanMemory(
  config: EngineModelConfig,
  shape: PlanShape,
  options: { precision?: EnginePrecision; recompute?: EngineRecompute } = {},
): PlanMemory {
  const gpt2 = config.architecture === 'gpt2';
  const f16 = options.precision === 'f16';
  const n = shape.sequences;
  const lp = Math.ceil(Math.max(1, shape.promptTokens) / PLAN_BUCKET) * PLAN_BUCKET;
  const tc = Math.ceil(Math.max(1, shape.completionTokens) / PLAN_BUCKET) * PLAN_BUCKET;
  const s = lp + tc;
  const R = n * s;
  const sel = n * tc;
  const { hiddenSize: C, numHeads: H, numKvHeads: Hkv, headDim: D, intermediateSize: M, vocabSize: V, numLayers: L } = config;
  const W = (H + 2 * Hkv) * D;
  const PW = gpt2 ? M : 2 * M;
  const t = f16 ? 'f16' : 'f32';
  const sum = (parts: number[]): number => parts.reduce((a, b) => a + b, 0);

  const inputs = sum([
    3 * bufferBytes(R), // ids, mask, positions
    gpt2 ? 0 : 2 * bufferBytes((R * D) / 2), // RoPE cos, sin
    3 * bufferBytes(sel), // selected rows, targets, dL/dlogp
    (gpt2 ? 2 : 1) * bufferBytes(3 * R + 2), // scatter plans of wte (and wpe)
  ]);
  const blockSet = sum([
    bufferBytes(R * C), // mid
    2 * bufferBytes(R * C, t), // ln₁, ln₂
    2 * bufferBytes(R * 2), // norm statistics
    bufferBytes(R * W), // q|k|v
    bufferBytes(R * H * D), // attention output
    bufferBytes(n * H * s), // log-sum-exp
    bufferBytes(R * PW), // MLP pre-activation
    bufferBytes(R * M, t), // MLP activation
  ]);
  const activations = sum([
    (L + 1) * bufferBytes(R * C), // residual stream
    (options.recompute === 'layer' ? 1 : L) * blockSet,
    f16 ? bufferBytes(R * Math.max(C, M)) + bufferBytes(R * H * D, 'f16') : bufferBytes(R * C), // f16 staging + attention copy, or the final norm
    bufferBytes(R * 2), // final norm statistics
    bufferBytes(sel * C) + (f16 ? bufferBytes(sel * C, 'f16') : 0), // selected rows
    bufferBytes(sel * V), // logits
    bufferBytes(sel * 3), // classifier output
  ]);
  const dyMax = Math.max(sel * V, R * C, R * PW, R * W);
  const backward = sum([
    2 * bufferBytes(R * C), // d residual, d norm output
    bufferBytes(R * W), // d q|k|v
    bufferBytes(R * H * D), // d attention output
    bufferBytes(n * H * s), // attention delta
    Hkv < H ? bufferBytes(2 * R * H * D) : 0, // grouped-query attention: each query head's share of dk, dv
    bufferBytes(R * M), // d MLP activation
    bufferBytes(R * PW), // d MLP pre-activation
    bufferBytes(sel * C), // d selected rows
    bufferBytes(Math.ceil(R / COLUMN_CHUNK) * Math.max(2 * C, W, PW)), // column-sum partials
    f16 ? bufferBytes(dyMax, 'f16') + bufferBytes(f16ScalePartials(dyMax)) + bufferBytes(2) : 0, // f16 gradient copy, its scale
  ]);
  return { activations, backward, inputs, total: activations + backward + inputs };
}
