/**
 * Where every parameter lives in the engine's single parameter buffer (and, at the same offsets,
 * in the gradient and AdamW-moment buffers).
 *
 * - Tensors that one matmul reads together sit back to back: Llama/Qwen2 `q_proj`|`k_proj`|
 *   `v_proj` weights (then one [(H + 2·Hkv)·D, C] matrix whose product is the packed qkv the
 *   attention kernel reads), their biases, and `gate_proj`|`up_proj` (weights and biases).
 * - Decayed tensors (rank ≥ 2: matrices and embeddings, @vlm-grpo/vlm's AdamW default) come first,
 *   then the rest, so AdamW runs as two ranges (decay on, decay off).
 * - Every unit (a tensor or a packed group) starts at a multiple of 64 elements (256 bytes: the
 *   storage-binding offset alignment WebGPU requires); the gaps stay zero in every buffer.
 * - The f16 copy of the weights (precision 'f16') uses the same element offsets at 2 bytes per
 *   element: a unit then starts at a multiple of 128 bytes, so its binding starts at the 256-byte
 *   boundary at or below it and the matmul view adds an element offset of 0 or 64
 *   ({@link paramSliceF16}).
 */
import type { EngineModelConfig as ModelConfig, EngineWeightSpec as WeightSpec, ParamEntry, ParamLayout } from './model-types.js';
import { PolicyWebGpuError } from './errors.js';
import type { Slice } from './gpu.js';

export type { ParamEntry, ParamLayout } from './model-types.js';

/** Alignment of units, in elements (256 bytes). */
export const PARAM_ALIGN = 64;

const GROUPS: readonly (readonly string[])[] = [
  ['.self_attn.q_proj.weight', '.self_attn.k_proj.weight', '.self_attn.v_proj.weight'],
  ['.self_attn.q_proj.bias', '.self_attn.k_proj.bias', '.self_attn.v_proj.bias'],
  ['.mlp.gate_proj.weight', '.mlp.up_proj.weight'],
  ['.mlp.gate_proj.bias', '.mlp.up_proj.bias'],
];

/** Lay out the tensors of `specs` (see the file header). */
export function buildParamLayout(_config: ModelConfig, specs: readonly WeightSpec[]): ParamLayout {
  const names = new Set(specs.map((s) => s.name));
  const bySpec = new Map(specs.map((s) => [s.name, s]));
  const units: WeightSpec[][] = [];
  const grouped = new Set<string>();
  for (const spec of specs) {
    if (grouped.has(spec.name)) continue;
    const group = GROUPS.find((g) => spec.name.endsWith(g[0]!));
    if (group) {
      const prefix = spec.name.slice(0, -group[0]!.length);
      const members = group.map((suffix) => prefix + suffix);
      if (members.every((name) => names.has(name))) {
        members.forEach((name) => grouped.add(name));
        units.push(members.map((name) => bySpec.get(name)!));
        continue;
      }
    }
    units.push([spec]);
  }
  const decays = (unit: WeightSpec[]) => unit[0]!.kind === 'matrix' || unit[0]!.kind === 'embedding';
  const byName = new Map<string, ParamEntry>();
  let offset = 0;
  let decayEnd = 0;
  for (const pass of [true, false]) {
    for (const unit of units.filter((u) => decays(u) === pass)) {
      offset = Math.ceil(offset / PARAM_ALIGN) * PARAM_ALIGN;
      for (const spec of unit) {
        const size = spec.shape.reduce((a, b) => a * b, 1);
        byName.set(spec.name, { name: spec.name, shape: [...spec.shape], size, offset, decay: pass });
        offset += size;
      }
    }
    if (pass) decayEnd = offset = Math.ceil(offset / PARAM_ALIGN) * PARAM_ALIGN;
  }
  return { entries: specs.map((s) => byName.get(s.name)!), byName, total: Math.ceil(offset / PARAM_ALIGN) * PARAM_ALIGN, decayEnd };
}

/** Element range [offset, offset + size) of `names` (consecutive tensors of one unit, or one tensor). */
function paramRange(layout: ParamLayout, names: readonly string[]): { offset: number; size: number } {
  const first = layout.byName.get(names[0]!);
  if (!first) throw new PolicyWebGpuError('WEBGPU_MISSING_WEIGHTS', `no parameter ${names[0]} in the layout`);
  let size = 0;
  let expected = first.offset;
  for (const name of names) {
    const entry = layout.byName.get(name)!;
    if (entry.offset !== expected) throw new PolicyWebGpuError('WEBGPU_INVALID_STATE', `parameters ${names.join(', ')} are not contiguous`);
    size += entry.size;
    expected += entry.size;
  }
  return { offset: first.offset, size };
}

/** The binding of `names` (consecutive tensors of one unit, or one tensor) in the fp32 `buffer`. */
export function paramSlice(layout: ParamLayout, buffer: GPUBuffer, ...names: string[]): Slice {
  const { offset, size } = paramRange(layout, names);
  return { buffer, offset: offset * 4, size: size * 4 };
}

/**
 * The binding and f16 element offset of `names` in the f16 copy `buffer` (same layout, 2 bytes
 * per element; see the file header): the binding starts at a 256-byte boundary and ends at a
 * 4-byte one, `offset` (0 or 64) locates the first element inside it.
 */
export function paramSliceF16(layout: ParamLayout, buffer: GPUBuffer, ...names: string[]): { slice: Slice; offset: number } {
  const { offset, size } = paramRange(layout, names);
  const start = Math.floor((offset * 2) / 256) * 256;
  const end = Math.ceil(((offset + size) * 2) / 4) * 4;
  return { slice: { buffer, offset: start, size: end - start }, offset: offset - start / 2 };
}
