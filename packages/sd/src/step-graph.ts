/**
 * The ONNX graph of one affine scheduler step (`affine-step.ts`), so the denoising loop can run
 * its step on the GPU. One graph serves every scheduler: its structure (guidance layout, element
 * types, how many stored tensors it reads and writes, noise, next denoiser input) is fixed by a
 * {@link StepGraphSpec}, and the per-step scalars arrive as one float32 input `coef` [K] (a few
 * bytes uploaded per step). Tensors are [B, C, h, w] with symbolic dimensions.
 *
 *   m      = out                                    (no guidance)
 *          = u + g·(c − u),  [u, c] = Split(out)    (batched CFG: out [2B, …], uncond first)
 *          = u + g·(c − u)                          (sequential CFG: inputs out_u, out_c [B, …])
 *   next   = a·x + c·m (+ d·z) + Σ_k b_k·h_k                              float32
 *   s_j    = p_j·x + q_j·m                                                 float32
 *   input  = Cast(s·next) (duplicated along the batch for batched CFG)    the denoiser's dtype
 *
 * A float16 denoiser output is cast to float32 first: the latents and the arithmetic stay float32,
 * as on the host path (which converts float16 outputs to float32 before the step).
 * Departure from the host path: coefficients are rounded to float32 and the arithmetic is
 * float32 (the host evaluates each element in float64 and rounds once), a relative difference of
 * a few 1e-7 per step.
 */
import type { AffineStep } from './affine-step.js';
import type { OnnxNode, OnnxValue } from './onnx-proto.js';
import { ONNX_ELEMENT_TYPES, onnxModelBytes } from './onnx-proto.js';

/** How classifier-free guidance arrives at the step. */
export type StepGuidance = 'none' | 'batched' | 'sequential';

/** The structure of one step graph (its cache key). */
export interface StepGraphSpec {
  /** Guidance layout of the denoiser output(s). */
  guidance: StepGuidance;
  /** Element type of the denoiser output. */
  modelType: 'float32' | 'float16';
  /** Element type of the denoiser's sample input. */
  inputType: 'float32' | 'float16';
  /** Number of stored tensors read (`h0`, `h1`, …). */
  history: number;
  /** Whether the step adds noise (input `noise`). */
  noise: boolean;
  /** Number of tensors stored for later steps (outputs `s0`, `s1`, …). */
  stores: number;
  /** Whether to produce the next denoiser input (output `model_input`; false on the last step). */
  modelInput: boolean;
}

/** A stable cache key of a spec. */
export function stepGraphKey(spec: StepGraphSpec): string {
  return `${spec.guidance}/${spec.modelType}/${spec.inputType}/h${spec.history}/${spec.noise ? 'z' : '-'}/s${spec.stores}/${spec.modelInput ? 'in' : '-'}`;
}

const DIMS = ['batch', 'channels', 'height', 'width'] as const;
const DIMS_2B = ['batch2', 'channels', 'height', 'width'] as const;

/** The ONNX model of the step graph `spec` (IR 8, opset 17). */
export function stepGraphBytes(spec: StepGraphSpec): Uint8Array {
  const f32 = ONNX_ELEMENT_TYPES.float32;
  const modelElem = ONNX_ELEMENT_TYPES[spec.modelType];
  const inputElem = ONNX_ELEMENT_TYPES[spec.inputType];
  const nodes: OnnxNode[] = [];
  const inputs: OnnxValue[] = [];
  const outputs: OnnxValue[] = [];
  const coefNames = coefficientNames(spec);
  // scalars: Split(coef) → [1] each (broadcast against [B, C, h, w])
  inputs.push({ name: 'coef', elemType: f32, dims: [coefNames.length] });
  if (coefNames.length === 1) nodes.push({ op: 'Identity', inputs: ['coef'], outputs: [coefNames[0]!] });
  else nodes.push({ op: 'Split', inputs: ['coef'], outputs: coefNames, attributes: { axis: 0 } });
  const asFloat = (name: string): string => {
    if (spec.modelType === 'float32') return name;
    nodes.push({ op: 'Cast', inputs: [name], outputs: [`${name}_f32`], attributes: { to: f32 } });
    return `${name}_f32`;
  };
  // guided model output m
  let m: string;
  if (spec.guidance === 'none') {
    inputs.push({ name: 'model', elemType: modelElem, dims: DIMS });
    m = asFloat('model');
  } else {
    let u: string;
    let c: string;
    if (spec.guidance === 'batched') {
      inputs.push({ name: 'model', elemType: modelElem, dims: DIMS_2B });
      nodes.push({ op: 'Split', inputs: [asFloat('model')], outputs: ['model_u', 'model_c'], attributes: { axis: 0 } });
      [u, c] = ['model_u', 'model_c'];
    } else {
      inputs.push({ name: 'model_u', elemType: modelElem, dims: DIMS }, { name: 'model_c', elemType: modelElem, dims: DIMS });
      [u, c] = [asFloat('model_u'), asFloat('model_c')];
    }
    nodes.push(
      { op: 'Sub', inputs: [c, u], outputs: ['cfg_delta'] },
      { op: 'Mul', inputs: ['c_guidance', 'cfg_delta'], outputs: ['cfg_scaled'] },
      { op: 'Add', inputs: [u, 'cfg_scaled'], outputs: ['m'] },
    );
    m = 'm';
  }
  inputs.push({ name: 'sample', elemType: f32, dims: DIMS });
  // next = a·x + c·m (+ d·z) + Σ b_k·h_k
  const terms: string[] = [];
  const term = (coef: string, tensor: string, name: string): void => {
    nodes.push({ op: 'Mul', inputs: [coef, tensor], outputs: [name] });
    terms.push(name);
  };
  term('c_sample', 'sample', 't_sample');
  term('c_model', m, 't_model');
  if (spec.noise) {
    inputs.push({ name: 'noise', elemType: f32, dims: DIMS });
    term('c_noise', 'noise', 't_noise');
  }
  for (let k = 0; k < spec.history; k++) {
    inputs.push({ name: `h${k}`, elemType: f32, dims: DIMS });
    term(`c_h${k}`, `h${k}`, `t_h${k}`);
  }
  nodes.push({ op: 'Sum', inputs: terms, outputs: ['next'] });
  outputs.push({ name: 'next', elemType: f32, dims: DIMS });
  for (let j = 0; j < spec.stores; j++) {
    nodes.push(
      { op: 'Mul', inputs: [`c_s${j}_sample`, 'sample'], outputs: [`s${j}_x`] },
      { op: 'Mul', inputs: [`c_s${j}_model`, m], outputs: [`s${j}_m`] },
      { op: 'Add', inputs: [`s${j}_x`, `s${j}_m`], outputs: [`s${j}`] },
    );
    outputs.push({ name: `s${j}`, elemType: f32, dims: DIMS });
  }
  if (spec.modelInput) {
    nodes.push({ op: 'Mul', inputs: ['c_input', 'next'], outputs: ['input_f32'] });
    let input = 'input_f32';
    if (spec.guidance === 'batched') {
      nodes.push({ op: 'Concat', inputs: [input, input], outputs: ['input_2b'], attributes: { axis: 0 } });
      input = 'input_2b';
    }
    if (spec.inputType === 'float16') {
      nodes.push({ op: 'Cast', inputs: [input], outputs: ['model_input'], attributes: { to: inputElem } });
    } else nodes.push({ op: 'Identity', inputs: [input], outputs: ['model_input'] });
    outputs.push({ name: 'model_input', elemType: inputElem, dims: spec.guidance === 'batched' ? DIMS_2B : DIMS });
  }
  return onnxModelBytes({ name: 'scheduler_step', nodes, inputs, outputs });
}

/** Names of the scalars in `coef`, in order. */
function coefficientNames(spec: StepGraphSpec): string[] {
  const names: string[] = [];
  if (spec.guidance !== 'none') names.push('c_guidance');
  names.push('c_sample', 'c_model');
  if (spec.noise) names.push('c_noise');
  for (let k = 0; k < spec.history; k++) names.push(`c_h${k}`);
  for (let j = 0; j < spec.stores; j++) names.push(`c_s${j}_sample`, `c_s${j}_model`);
  if (spec.modelInput) names.push('c_input');
  return names;
}

/** What one step feeds its graph: the spec, the `coef` vector, and which slots are read and written in which order. */
export interface StepGraphCall {
  /** The graph structure. */
  spec: StepGraphSpec;
  /** The scalars, in the graph's order. */
  coef: Float32Array;
  /** Slots read, as `h0`, `h1`, …. */
  reads: string[];
  /** Slots written, as outputs `s0`, `s1`, …. */
  writes: string[];
}

/**
 * The graph call of `plan`: guidance scale `guidance` (ignored without guidance), next denoiser
 * input scale `inputScale` (undefined on the last step: no `model_input`).
 */
export function stepGraphCall(
  plan: AffineStep,
  options: { guidance: StepGuidance; guidanceScale: number; modelType: 'float32' | 'float16'; inputType: 'float32' | 'float16'; inputScale: number | undefined },
): StepGraphCall {
  const reads = Object.keys(plan.next.history ?? {}).sort();
  const writes = Object.keys(plan.store).sort();
  const spec: StepGraphSpec = {
    guidance: options.guidance,
    modelType: options.modelType,
    inputType: options.inputType,
    history: reads.length,
    noise: plan.next.noise !== undefined,
    stores: writes.length,
    modelInput: options.inputScale !== undefined,
  };
  const coef: number[] = [];
  if (spec.guidance !== 'none') coef.push(options.guidanceScale);
  coef.push(plan.next.sample ?? 0, plan.next.model ?? 0);
  if (spec.noise) coef.push(plan.next.noise!);
  for (const slot of reads) coef.push(plan.next.history![slot]!);
  for (const slot of writes) coef.push(plan.store[slot]!.sample ?? 0, plan.store[slot]!.model ?? 0);
  if (spec.modelInput) coef.push(options.inputScale!);
  return { spec, coef: Float32Array.from(coef), reads, writes };
}
