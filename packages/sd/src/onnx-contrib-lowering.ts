/**
 * Lowering of ONNX Runtime's CUDA-only fused diffusion operators to standard ONNX, so that graphs
 * made by ONNX Runtime's Stable Diffusion optimizer (`optimize_pipeline.py` / Olive: the
 * `onnxruntime/sd-turbo` and `onnxruntime/sdxl-turbo` repositories) run on the CPU, WebGPU and
 * Core ML execution providers. ONNX Runtime's own kernels for these ops exist on CUDA only (the
 * CPU EP has none; the WebGPU EP of 1.30 has BiasAdd and BiasSplitGelu but no NhwcConv or
 * GroupNorm, and its MultiHeadAttention, like the CPU one, rejects packed inputs at run time).
 *
 * Rules (com.microsoft op → standard subgraph; shapes in comments use N batch, H×W spatial, C
 * channels, G groups, S/L sequence lengths, Nh heads, Dh head size):
 * - `NhwcConv(X [N,H,W,C], W [M,kH,kW,C/g] (OHWI), B?)` → Transpose(X, NCHW), Transpose(W, OIHW),
 *   `Conv` with the node's own attributes, Transpose back to NHWC.
 * - `GroupNorm(X, γ [C], β [C]; groups, epsilon = 1e-5, activation (1 = SiLU), channels_last = 1)`
 *   → in float32 (as the CUDA kernel accumulates): Reshape to [N, G, -1], `InstanceNormalization`
 *   with unit scale, Reshape back, · γ + β per channel, optional x·sigmoid(x), Cast back.
 * - `SkipGroupNorm(X, γ, β, skip, bias?)` → S = X + skip (+ bias), second output S, then GroupNorm;
 *   a skip of shape [N, C] is broadcast as [N, 1, 1, C] as the kernel does.
 * - `BiasAdd(X, bias, skip)` → X + bias + skip.
 * - `BiasSplitGelu(X [N,S,2D], bias [2D])` → h = X + bias; h[..., :D] · gelu(h[..., D:]) with the
 *   erf gelu, in float32.
 * - `MultiHeadAttention` with packed QKV (query [B,S,Nh,3,Dh], no key/value) or packed KV (key
 *   [B,L,Nh,2,Dh], no value) → the same op with separate query/key/value [B,·,Nh·Dh] (slices of the
 *   packed axis); every other input and attribute unchanged.
 * Departures from the CUDA kernels: float32 arithmetic where they use float32 accumulators but
 * store fp16 intermediates (GroupNorm's normalised values, gelu): differences are fp16 rounding.
 *
 * Which ops are lowered depends on the device ({@link contribOpsToLower}); an op the EP reports as
 * missing at session creation ("Could not find an implementation for X", or with the WebGPU EP
 * "Provider type for X node … is not set") is added on retry by the session loader.
 */
import type { GraphRewrite, OnnxFileNode, OnnxGraphFile } from './onnx-graph-file.js';
import { encodeNode, encodeTensor, ONNX_ELEMENT_TYPES } from './onnx-proto.js';
import type { OnnxNodeSpec } from './onnx-proto.js';

/** Every op type this module can lower (com.microsoft domain). */
export const LOWERABLE_CONTRIB_OPS = ['NhwcConv', 'GroupNorm', 'SkipGroupNorm', 'BiasAdd', 'BiasSplitGelu', 'MultiHeadAttention'] as const;

/** A lowerable op type. */
export type LowerableContribOp = (typeof LOWERABLE_CONTRIB_OPS)[number];

/** Devices whose ONNX Runtime EP lacks kernels the optimizer's graphs need. */
export type LoweringDevice = 'cpu' | 'webgpu' | 'cuda' | 'coreml';

/**
 * The ops lowered up front on `device`, from onnxruntime-node 1.30's kernels (checked by
 * `onnx-contrib-lowering.test.ts` on the CPU EP and `webgpu.test.ts` on lavapipe): CUDA none;
 * WebGPU all but BiasAdd and BiasSplitGelu (it has kernels for those two; GroupNorm and
 * SkipGroupNorm came to its sources after 1.30); CPU and Core ML (whose unsupported nodes run on
 * the CPU EP) all. `MultiHeadAttention` means only its packed forms: unpacked nodes are kept.
 * A lowering decided up front costs one rewrite of the file; an op missed here costs a second
 * one (the session loader retries when the EP reports the op missing).
 */
export function contribOpsToLower(device: LoweringDevice): Set<LowerableContribOp> {
  if (device === 'cuda') return new Set();
  if (device === 'webgpu') return new Set(['NhwcConv', 'GroupNorm', 'SkipGroupNorm', 'MultiHeadAttention']);
  return new Set(LOWERABLE_CONTRIB_OPS);
}

const MS = 'com.microsoft';
const FLOAT = ONNX_ELEMENT_TYPES.float32;
const FLOAT16 = ONNX_ELEMENT_TYPES.float16;
const INT64 = ONNX_ELEMENT_TYPES.int64;
const BOOL = 9;

/** Whether `node` is one `lowerContribOps` would rewrite given `ops`. */
export function needsLowering(node: OnnxFileNode, ops: ReadonlySet<string>): boolean {
  if (node.domain !== MS || !ops.has(node.opType)) return false;
  if (node.opType === 'MultiHeadAttention') return isPackedAttention(node);
  return true;
}

/** Packed QKV (no key, no value: all three in the query) or packed KV (a key, no value). */
function isPackedAttention(node: OnnxFileNode): boolean {
  return (node.inputs[2] ?? '') === '';
}

/** Counts of the nodes `ops` would lower, by op type (packed attention as `MultiHeadAttention (packed)`). */
export function loweringCounts(graph: OnnxGraphFile, ops: ReadonlySet<string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const node of graph.nodes) {
    if (!needsLowering(node, ops)) continue;
    const label = node.opType === 'MultiHeadAttention' ? 'MultiHeadAttention (packed)' : node.opType;
    counts.set(label, (counts.get(label) ?? 0) + 1);
  }
  return counts;
}

/** Raised when a node cannot be lowered (names the node and why). */
export class ContribLoweringError extends Error {
  override name = 'ContribLoweringError';
}

const OUTPUT_INT64 = new Set(['Shape', 'Size', 'NonZero', 'ArgMax', 'ArgMin', 'NonMaxSuppression']);
const OUTPUT_BOOL = new Set(['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf']);

/**
 * Element types of the graph's tensors: declared ones (inputs, outputs, value_info,
 * initializers), then propagated through the nodes in order (Cast's `to`, integer/boolean
 * producers, Constant values, otherwise the first input's type).
 */
export function inferElemTypes(graph: OnnxGraphFile): Map<string, number> {
  const types = new Map(graph.declaredTypes);
  for (const node of graph.nodes) {
    const first = node.inputs.map((name) => types.get(name)).find((t) => t !== undefined);
    node.outputs.forEach((output, index) => {
      if (!output || types.has(output)) return;
      let type: number | undefined;
      if (node.opType === 'Cast') type = node.attributes.get('to')?.i;
      else if (node.opType === 'CastLike') type = types.get(node.inputs[1] ?? '');
      else if (OUTPUT_INT64.has(node.opType) || (node.opType === 'TopK' && index === 1)) type = INT64;
      else if (OUTPUT_BOOL.has(node.opType)) type = BOOL;
      else if (node.opType === 'Constant') type = node.attributes.get('value')?.tensorElemType ?? (node.attributes.has('value_int') || node.attributes.has('value_ints') ? INT64 : FLOAT);
      else if (node.opType === 'ConstantOfShape') type = node.attributes.get('value')?.tensorElemType ?? FLOAT;
      else if (node.opType === 'SkipLayerNormalization' && (index === 1 || index === 2)) type = FLOAT;
      else type = first;
      if (type !== undefined) types.set(output, type);
    });
  }
  return types;
}

/** Little-endian bytes of int64 values ({@link INT64_MAX} and above → 2^63 − 1). */
function int64Bytes(values: readonly number[]): Uint8Array {
  const out = new BigInt64Array(values.map((v) => (v >= INT64_MAX ? 2n ** 63n - 1n : BigInt(v))));
  return new Uint8Array(out.buffer);
}

function float32Bytes(values: readonly number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

/** "To the end" for Slice (2^63 as a double; written as 2^63 − 1). */
const INT64_MAX = 2 ** 63;

/** Emits the replacement nodes and constants of one lowered node. */
class Emitter {
  readonly nodes: Uint8Array[] = [];
  readonly initializers: Uint8Array[] = [];
  private count = 0;

  constructor(
    private readonly prefix: string,
    private readonly shared: Map<string, string>,
    private readonly sharedInitializers: Uint8Array[],
  ) {}

  /** A fresh tensor name. */
  name(hint: string): string {
    return `${this.prefix}/${hint}_${this.count++}`;
  }

  /** Add a node; returns its first output name (or `outputs[0]` when given). */
  node(op: string, inputs: readonly string[], options: Partial<OnnxNodeSpec> & { out?: string[] } = {}): string {
    const outputs = options.out ?? [this.name(op.toLowerCase())];
    const spec: OnnxNodeSpec = {
      op,
      inputs,
      outputs,
      name: this.name(`${op}_node`),
      ...(options.attributes ? { attributes: options.attributes } : {}),
      ...(options.floatAttributes ? { floatAttributes: options.floatAttributes } : {}),
      ...(options.intListAttributes ? { intListAttributes: options.intListAttributes } : {}),
      ...(options.rawAttributes ? { rawAttributes: options.rawAttributes } : {}),
      ...(options.domain ? { domain: options.domain } : {}),
    };
    this.nodes.push(encodeNode(spec));
    return outputs[0]!;
  }

  /** A graph-wide constant (one initializer per distinct value). */
  constant(elemType: number, dims: readonly number[], values: readonly number[]): string {
    const key = `${elemType}:${dims.join(',')}:${values.join(',')}`;
    const known = this.shared.get(key);
    if (known) return known;
    const name = `vlm_grpo_portable_const_${this.shared.size}`;
    const raw = elemType === INT64 ? int64Bytes(values) : float32Bytes(values);
    this.sharedInitializers.push(encodeTensor(name, elemType, dims, raw));
    this.shared.set(key, name);
    return name;
  }

  ints(values: readonly number[]): string {
    return this.constant(INT64, [values.length], values);
  }

  floatScalar(value: number): string {
    return this.constant(FLOAT, [], [value]);
  }
}

/** Type of `name`, or an error naming the node. */
function typeOf(types: Map<string, number>, name: string, node: OnnxFileNode): number {
  const type = types.get(name);
  if (type === FLOAT || type === FLOAT16) return type;
  throw new ContribLoweringError(
    `${node.opType} node "${node.name}": the element type of its input "${name}" is ${type === undefined ? 'unknown' : `ONNX type ${type}`} (float or float16 expected)`,
  );
}

const toFloat = (e: Emitter, name: string, type: number): string => (type === FLOAT ? name : e.node('Cast', [name], { attributes: { to: FLOAT } }));
const fromFloat = (e: Emitter, name: string, type: number, out?: string): string =>
  type === FLOAT ? (out ? e.node('Identity', [name], { out: [out] }) : name) : e.node('Cast', [name], { attributes: { to: type }, ...(out ? { out: [out] } : {}) });

const attrInt = (node: OnnxFileNode, name: string, fallback: number): number => node.attributes.get(name)?.i ?? fallback;
const attrFloat = (node: OnnxFileNode, name: string, fallback: number): number => node.attributes.get(name)?.f ?? fallback;

/** Group normalisation of `x` (its type `type`) per the GroupNorm attributes of `node`, written to `out`. */
function groupNorm(e: Emitter, node: OnnxFileNode, x: string, gamma: string, beta: string, type: number, types: Map<string, number>, out: string): void {
  const groups = node.attributes.get('groups')?.i;
  if (!groups || groups < 1) throw new ContribLoweringError(`${node.opType} node "${node.name}": attribute "groups" is missing or not positive`);
  const epsilon = attrFloat(node, 'epsilon', 1e-5);
  const channelsLast = attrInt(node, 'channels_last', 1) === 1;
  const activation = attrInt(node, 'activation', 0);
  if (activation !== 0 && activation !== 1) throw new ContribLoweringError(`${node.opType} node "${node.name}": activation ${activation} is not 0 (none) or 1 (SiLU)`);
  const xf = toFloat(e, x, type);
  // [N, H, W, C] → [N, C, H, W]
  const nchw = channelsLast ? e.node('Transpose', [xf], { intListAttributes: { perm: [0, 3, 1, 2] } }) : xf;
  // [N, C, H, W] → [N, G, C/G·H·W] → InstanceNormalization (unit scale, zero bias) → [N, C, H, W]
  const grouped = e.node('Reshape', [nchw, e.ints([0, groups, -1])]);
  const ones = e.constant(FLOAT, [groups], new Array<number>(groups).fill(1));
  const zeros = e.constant(FLOAT, [groups], new Array<number>(groups).fill(0));
  const normed = e.node('InstanceNormalization', [grouped, ones, zeros], { floatAttributes: { epsilon } });
  const restored = e.node('Reshape', [normed, e.node('Shape', [nchw])]);
  // γ and β per channel: the last axis in NHWC, axis 1 (as [C, 1, 1]) in NCHW.
  const layout = channelsLast ? e.node('Transpose', [restored], { intListAttributes: { perm: [0, 2, 3, 1] } }) : restored;
  const perChannel = (name: string): string => {
    const f = toFloat(e, name, typeOf(types, name, node));
    return channelsLast ? f : e.node('Reshape', [f, e.ints([-1, 1, 1])]);
  };
  const scaled = e.node('Add', [e.node('Mul', [layout, perChannel(gamma)]), perChannel(beta)]);
  const activated = activation === 1 ? e.node('Mul', [scaled, e.node('Sigmoid', [scaled])]) : scaled;
  fromFloat(e, activated, type, out);
}

function lowerNode(e: Emitter, node: OnnxFileNode, types: Map<string, number>): void {
  const [in0 = '', in1 = '', in2 = '', in3 = '', in4 = ''] = node.inputs;
  switch (node.opType) {
    case 'NhwcConv': {
      const x = e.node('Transpose', [in0], { intListAttributes: { perm: [0, 3, 1, 2] } });
      const w = e.node('Transpose', [in1], { intListAttributes: { perm: [0, 3, 1, 2] } });
      const y = e.node('Conv', node.inputs.length > 2 && in2 ? [x, w, in2] : [x, w], { rawAttributes: node.rawAttributes });
      e.node('Transpose', [y], { intListAttributes: { perm: [0, 2, 3, 1] }, out: [node.outputs[0]!] });
      return;
    }
    case 'GroupNorm': {
      groupNorm(e, node, in0, in1, in2, typeOf(types, in0, node), types, node.outputs[0]!);
      return;
    }
    case 'SkipGroupNorm': {
      const type = typeOf(types, in0, node);
      if (!in3) throw new ContribLoweringError(`SkipGroupNorm node "${node.name}": input 3 (skip) is missing`);
      // skip [N, C] is broadcast as [N, 1, 1, C]; [N, H, W, C] and [N, 1, 1, C] stay as they are:
      // target = shape[0:1] ++ (shape[1:-1] ++ [1, 1])[0:2] ++ shape[-1:]
      const shape = e.node('Shape', [in3]);
      const slice = (from: number, to: number, source = shape): string => e.node('Slice', [source, e.ints([from]), e.ints([to]), e.ints([0])]);
      const middle = slice(0, 2, e.node('Concat', [slice(1, -1), e.ints([1, 1])], { attributes: { axis: 0 } }));
      const target = e.node('Concat', [slice(0, 1), middle, slice(-1, INT64_MAX)], { attributes: { axis: 0 } });
      const skip = e.node('Reshape', [in3, target]);
      const sumOut = node.outputs[1] || undefined;
      const withSkip = e.node('Add', [in0, skip], in4 ? {} : sumOut ? { out: [sumOut] } : {});
      const sum = in4 ? e.node('Add', [withSkip, in4], sumOut ? { out: [sumOut] } : {}) : withSkip;
      groupNorm(e, node, sum, in1, in2, type, types, node.outputs[0]!);
      return;
    }
    case 'BiasAdd': {
      e.node('Add', [e.node('Add', [in0, in1]), in2], { out: [node.outputs[0]!] });
      return;
    }
    case 'BiasSplitGelu': {
      const type = typeOf(types, in0, node);
      const h = toFloat(e, e.node('Add', [in0, in1]), type);
      // half = last dim / 2 (int64 [1]); left = h[..., :half], right = h[..., half:]
      const last = e.node('Slice', [e.node('Shape', [h]), e.ints([-1]), e.ints([INT64_MAX]), e.ints([0])]);
      const half = e.node('Div', [last, e.ints([2])]);
      const left = e.node('Slice', [h, e.ints([0]), half, e.ints([-1])]);
      const right = e.node('Slice', [h, half, e.ints([INT64_MAX]), e.ints([-1])]);
      // gelu(r) = 0.5 · r · (1 + erf(r / √2))
      const erf = e.node('Erf', [e.node('Mul', [right, e.floatScalar(Math.SQRT1_2)])]);
      const gelu = e.node('Mul', [e.node('Mul', [right, e.floatScalar(0.5)]), e.node('Add', [erf, e.floatScalar(1)])]);
      fromFloat(e, e.node('Mul', [left, gelu]), type, node.outputs[0]!);
      return;
    }
    case 'MultiHeadAttention': {
      // query [B,S,Nh,3,Dh] (packed QKV) or key [B,L,Nh,2,Dh] (packed KV): slice the packed axis
      // (3) and merge heads: [B,·,Nh,1,Dh] → [B,·,Nh·Dh].
      const part = (source: string, index: number): string =>
        e.node('Reshape', [e.node('Slice', [source, e.ints([index]), e.ints([index + 1]), e.ints([3])]), e.ints([0, 0, -1])]);
      let query = in0;
      let key: string;
      let value: string;
      if (!in1) {
        key = part(in0, 1);
        value = part(in0, 2);
        query = part(in0, 0);
      } else {
        key = part(in1, 0);
        value = part(in1, 1);
      }
      e.node('MultiHeadAttention', [query, key, value, ...node.inputs.slice(3)], { domain: MS, rawAttributes: node.rawAttributes, out: node.outputs });
      return;
    }
    default:
      throw new ContribLoweringError(`no lowering for ${node.domain}.${node.opType} (node "${node.name}")`);
  }
}

/**
 * Replace every node of `graph` that {@link needsLowering} with `ops` by its standard subgraph
 * (outputs keep their names, so consumers are unchanged); apply with `applyRewrites`. Throws
 * {@link ContribLoweringError} for a node it cannot rewrite (unknown input type, bad attribute) and
 * for a default-domain opset below 11 (the rules use Slice with tensor inputs and negative ends).
 */
export function lowerContribOps(graph: OnnxGraphFile, ops: ReadonlySet<string>): GraphRewrite {
  const counts = loweringCounts(graph, ops);
  const replace = new Map<number, Uint8Array[]>();
  const initializers: Uint8Array[] = [];
  if (counts.size === 0) return { replace, initializers, counts };
  const opset = graph.opsets.get('') ?? 0;
  if (opset < 11) throw new ContribLoweringError(`${graph.path}: default-domain opset ${opset}: lowering needs opset 11 or later`);
  const types = inferElemTypes(graph);
  const shared = new Map<string, string>();
  graph.nodes.forEach((node, index) => {
    if (!needsLowering(node, ops)) return;
    // The node's index keeps names unique even where a file repeats node names.
    const emitter = new Emitter(`portable/${index}_${node.name || node.opType}`, shared, initializers);
    lowerNode(emitter, node, types);
    replace.set(index, emitter.nodes);
  });
  return { replace, initializers, counts };
}
