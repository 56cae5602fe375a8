/**
 * Fusion of exported scaled-dot-product attention into ONNX Runtime's `MultiHeadAttention`
 * (com.microsoft), whose WebGPU kernel is a flash attention: the [B, heads, S, L] score matrix is
 * never written to memory. A plain export (Optimum, `torch.onnx.export` of diffusers'
 * `F.scaled_dot_product_attention`) spells attention out as 13 nodes; at SD 1.5's 64×64 latents,
 * batch 8, that is a 4096 × 4096 score matrix per head (4.3 GB per attention layer in float32)
 * written, soft-maxed and read back. ONNX Runtime's own graph optimizer has no fusion for it.
 *
 * Matched pattern (names as the TorchScript exporter writes them; q, k, v are [B, S|L, D]):
 *   q4 = Reshape(q, [B, -1, H, Dh]);  qT = Transpose(q4, [0, 2, 1, 3])            // [B, H, S, Dh]
 *   k4 = Reshape(k, [B, -1, H, Dh]);  kT = Transpose(k4, [0, 2, 3, 1])            // [B, H, Dh, L]
 *   v4 = Reshape(v, [B, -1, H, Dh]);  vT = Transpose(v4, [0, 2, 1, 3])            // [B, H, L, Dh]
 *   scale split over both operands (the exporter's form), Dh read from q's shape:
 *     s = Sqrt(Cast?(Div(1, Sqrt(Cast?(Slice|Gather(Shape(qT), -1))))))
 *     scores = MatMul(Mul(qT, s), Mul(kT, s'))                                     // s' = Sqrt of the same
 *   or applied to the scores: scores = Mul|Div(MatMul(qT, kT), c) with c a Constant scalar
 *   out = MatMul(Softmax(scores, axis -1), vT)                                     // [B, H, S, Dh]
 *   y = Reshape(Transpose(out, [0, 2, 1, 3]), [B, -1, H·Dh])                       // [B, S, D]
 * → y = MultiHeadAttention(q, k, v; num_heads = H, scale = the pattern's), which computes
 * softmax(q·kᵀ·scale)·v per head with the same [B, S, H·Dh] layout. H is read from the Reshape
 * target (a Concat whose third element is a Constant, or a Constant shape). The split form's scale
 * is 1/√Dh, MultiHeadAttention's default; the split form is accepted only as the literal 1 over the
 * square root of q's last dimension, so a custom scale is never mistaken for the default. The scores, probabilities and
 * attended values must have this one consumer (otherwise nothing is fused); the head-split q/k/v
 * may have more (the exporter reads Dh from q's shape): `applyRewrites` keeps a deleted node that
 * is still read and drops the shape arithmetic that only fed the fused nodes. Graphs with
 * subgraphs (If, Loop) are not fused.
 * Departures: none in the math; float rounding differs (the kernel's own summation order).
 */
import { hasSubgraph } from './onnx-graph-file.js';
import type { GraphRewrite, OnnxFileNode, OnnxGraphFile } from './onnx-graph-file.js';
import { encodeNode } from './onnx-proto.js';

/** Label of this rewrite in messages and counts. */
export const ATTENTION_FUSION_LABEL = 'attention → MultiHeadAttention';

interface Index {
  graph: OnnxGraphFile;
  producer: Map<string, number>;
  consumers: Map<string, number[]>;
  outputs: Set<string>;
}

function indexGraph(graph: OnnxGraphFile, graphOutputs: ReadonlySet<string>): Index {
  const producer = new Map<string, number>();
  const consumers = new Map<string, number[]>();
  graph.nodes.forEach((node, i) => {
    for (const output of node.outputs) if (output) producer.set(output, i);
    for (const input of node.inputs) if (input) (consumers.get(input) ?? consumers.set(input, []).get(input)!).push(i);
  });
  return { graph, producer, consumers, outputs: new Set(graphOutputs) };
}

/** The node producing `name` if it is of type `op` (default domain). */
function producedBy(ix: Index, name: string | undefined, op: string): [number, OnnxFileNode] | undefined {
  if (!name) return undefined;
  const i = ix.producer.get(name);
  if (i === undefined) return undefined;
  const node = ix.graph.nodes[i]!;
  return node.opType === op && node.domain === '' ? [i, node] : undefined;
}

/** Whether `name`'s only use is one node (and it is not a graph output). */
function singleUse(ix: Index, name: string): boolean {
  return (ix.consumers.get(name)?.length ?? 0) === 1 && !ix.outputs.has(name);
}

const perm = (node: OnnxFileNode): string => (node.attributes.get('perm')?.ints ?? []).join(',');

/** The value of a Constant node's scalar or one-element tensor. */
function constantScalar(ix: Index, name: string | undefined): number | undefined {
  const found = producedBy(ix, name, 'Constant');
  const values = found?.[1].attributes.get('value')?.tensorValues;
  return values?.length === 1 ? values[0] : undefined;
}

/** Heads H from a Reshape target [B, -1, H, Dh]: a Concat with a Constant third element, or a Constant. */
function headsOf(ix: Index, shape: string | undefined): number | undefined {
  const concat = producedBy(ix, shape, 'Concat');
  if (concat) return concat[1].inputs.length === 4 ? constantScalar(ix, concat[1].inputs[2]) : undefined;
  const constant = producedBy(ix, shape, 'Constant')?.[1].attributes.get('value')?.tensorValues;
  return constant?.length === 4 ? constant[2] : undefined;
}

/** `Reshape(x, [B, -1, H, Dh])` then `Transpose(perm)`: [source tensor, H, node indices]. */
function splitHeads(ix: Index, name: string, expectedPerm: string): [string, number, number[]] | undefined {
  const transpose = producedBy(ix, name, 'Transpose');
  if (!transpose || perm(transpose[1]) !== expectedPerm) return undefined;
  const reshape = producedBy(ix, transpose[1].inputs[0], 'Reshape');
  if (!reshape) return undefined;
  const heads = headsOf(ix, reshape[1].inputs[1]);
  if (!heads || heads < 1 || !Number.isInteger(heads)) return undefined;
  return [reshape[1].inputs[0]!, heads, [reshape[0], transpose[0]]];
}

/** The tensor whose last dimension `name` is: `Cast?(Slice(Shape(x), -1, end))` or `Cast?(Gather(Shape(x), -1 | 3))`. */
function lastDimOf(ix: Index, name: string | undefined): string | undefined {
  const cast = producedBy(ix, name, 'Cast');
  const inner = cast ? cast[1].inputs[0] : name;
  const slice = producedBy(ix, inner, 'Slice');
  const gather = producedBy(ix, inner, 'Gather');
  let shapeName: string | undefined;
  if (slice && constantScalar(ix, slice[1].inputs[1]) === -1 && (slice[1].inputs[3] ?? '') === '') shapeName = slice[1].inputs[0];
  else if (gather) {
    const index = constantScalar(ix, gather[1].inputs[1]);
    if (index === -1 || index === 3) shapeName = gather[1].inputs[0];
  }
  return producedBy(ix, shapeName, 'Shape')?.[1].inputs[0];
}

/**
 * Whether `name` is the exporter's √(1/√Dh): `Sqrt(Cast?(Div(1, Sqrt(Cast?(last dim of x)))))`.
 * Returns [the outer Sqrt's input (shared by the q and k sides), x].
 */
function sqrtOfInverseSqrt(ix: Index, name: string | undefined): [string, string] | undefined {
  const sqrt = producedBy(ix, name, 'Sqrt');
  if (!sqrt) return undefined;
  let inner = sqrt[1].inputs[0];
  const cast = producedBy(ix, inner, 'Cast');
  if (cast) inner = cast[1].inputs[0];
  const div = producedBy(ix, inner, 'Div');
  if (!div || constantScalar(ix, div[1].inputs[0]) !== 1) return undefined;
  const root = producedBy(ix, div[1].inputs[1], 'Sqrt');
  const source = root && lastDimOf(ix, root[1].inputs[0]);
  return source ? [sqrt[1].inputs[0]!, source] : undefined;
}

interface Match {
  q: string;
  k: string;
  v: string;
  heads: number;
  /** Explicit scale, or undefined for MultiHeadAttention's default 1/√Dh. */
  scale: number | undefined;
  /** Nodes removed; the last one (the output Reshape) is replaced by the fused node. */
  removed: number[];
  output: string;
}

function matchAt(ix: Index, softmaxIndex: number): Match | undefined {
  const softmax = ix.graph.nodes[softmaxIndex]!;
  const axis = softmax.attributes.get('axis')?.i ?? -1;
  if (axis !== -1 && axis !== 3) return undefined;
  const probs = softmax.outputs[0]!;
  if (!singleUse(ix, probs)) return undefined;
  const outMatMulIndex = ix.consumers.get(probs)![0]!;
  const outMatMul = ix.graph.nodes[outMatMulIndex]!;
  if (outMatMul.opType !== 'MatMul' || outMatMul.domain !== '' || outMatMul.inputs[0] !== probs) return undefined;
  const value = splitHeads(ix, outMatMul.inputs[1]!, '0,2,1,3');
  if (!value) return undefined;
  // Output: Transpose [0,2,1,3] → Reshape, each the single use.
  const attended = outMatMul.outputs[0]!;
  if (!singleUse(ix, attended)) return undefined;
  const merge = ix.graph.nodes[ix.consumers.get(attended)![0]!]!;
  const mergeIndex = ix.consumers.get(attended)![0]!;
  if (merge.opType !== 'Transpose' || merge.domain !== '' || perm(merge) !== '0,2,1,3' || !singleUse(ix, merge.outputs[0]!)) return undefined;
  const finalIndex = ix.consumers.get(merge.outputs[0]!)![0]!;
  const final = ix.graph.nodes[finalIndex]!;
  if (final.opType !== 'Reshape' || final.domain !== '' || final.inputs[0] !== merge.outputs[0]) return undefined;

  // Scores: split scale (Mul(qT, s) · Mul(kT, s')) or a scaled MatMul(qT, kT).
  let scoresName = softmax.inputs[0]!;
  let scale: number | undefined;
  const removed: number[] = [];
  const scaled = producedBy(ix, scoresName, 'Mul') ?? producedBy(ix, scoresName, 'Div');
  if (scaled && singleUse(ix, scoresName)) {
    const c = constantScalar(ix, scaled[1].inputs[1]);
    if (c === undefined || c === 0) return undefined;
    scale = scaled[1].opType === 'Mul' ? c : 1 / c;
    removed.push(scaled[0]);
    scoresName = scaled[1].inputs[0]!;
  }
  const scores = producedBy(ix, scoresName, 'MatMul');
  if (!scores || !singleUse(ix, scoresName)) return undefined;
  removed.push(scores[0]);
  let [qTName, kTName] = scores[1].inputs as [string, string];
  if (scale === undefined) {
    const mq = producedBy(ix, qTName, 'Mul');
    const mk = producedBy(ix, kTName, 'Mul');
    if (!mq || !mk) return undefined;
    // Mul(x, s) or Mul(s, x): [operand, the √ scale's input, the tensor Dh is read from]
    const operand = (mul: OnnxFileNode): [string, string, string] | undefined => {
      const [a = '', b = ''] = mul.inputs;
      const viaB = sqrtOfInverseSqrt(ix, b);
      if (viaB !== undefined) return [a, ...viaB];
      const viaA = sqrtOfInverseSqrt(ix, a);
      return viaA !== undefined ? [b, ...viaA] : undefined;
    };
    const oq = operand(mq[1]);
    const ok = operand(mk[1]);
    if (!oq || !ok || oq[1] !== ok[1]) return undefined;
    // The scale is 1/√(the query's head size): Dh read from qT [B, H, S, Dh] or q4 [B, S, H, Dh].
    const q4 = producedBy(ix, oq[0], 'Transpose')?.[1].inputs[0];
    if (oq[2] !== oq[0] && oq[2] !== q4) return undefined;
    removed.push(mq[0], mk[0]);
    qTName = oq[0];
    kTName = ok[0];
  }
  const query = splitHeads(ix, qTName, '0,2,1,3');
  const key = splitHeads(ix, kTName, '0,2,3,1');
  if (!query || !key || query[1] !== key[1] || key[1] !== value[1]) return undefined;
  removed.push(...query[2], ...key[2], ...value[2], softmaxIndex, outMatMulIndex, mergeIndex, finalIndex);
  return { q: query[0], k: key[0], v: value[0], heads: query[1], scale, removed, output: final.outputs[0]! };
}

/**
 * Replace each matched attention of `graph` (see the module comment) by one `MultiHeadAttention`;
 * apply with `applyRewrites` (which adds the `com.microsoft` opset import when the file lacks it).
 */
export function fuseAttention(graph: OnnxGraphFile): GraphRewrite {
  const ix = indexGraph(graph, graph.outputs);
  const replace = new Map<number, Uint8Array[]>();
  if (graph.nodes.some(hasSubgraph)) {
    return { replace, initializers: [], counts: new Map() };
  }
  let fused = 0;
  graph.nodes.forEach((node, index) => {
    if (node.opType !== 'Softmax' || node.domain !== '') return;
    const match = matchAt(ix, index);
    if (!match || match.removed.some((i) => replace.has(i))) return;
    const finalIndex = match.removed.at(-1)!;
    for (const i of match.removed) replace.set(i, []);
    replace.set(finalIndex, [
      encodeNode({
        op: 'MultiHeadAttention',
        domain: 'com.microsoft',
        name: `fused_attention/${finalIndex}_${graph.nodes[finalIndex]!.name}`,
        inputs: [match.q, match.k, match.v],
        outputs: [match.output],
        attributes: { num_heads: match.heads },
        ...(match.scale !== undefined ? { floatAttributes: { scale: match.scale } } : {}),
      }),
    ]);
    fused++;
  });
  return fused > 0
    ? { replace, initializers: [], counts: new Map([[ATTENTION_FUSION_LABEL, fused]]), opsets: new Map([['com.microsoft', 1]]) }
    : { replace, initializers: [], counts: new Map() };
}
