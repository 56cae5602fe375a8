/**
 * A minimal ONNX protobuf writer for small graphs built at run time (GPU uploads, scheduler steps):
 * `ModelProto { ir_version 8, graph, opset_import }` with nodes, typed inputs/outputs (fixed or
 * symbolic dimensions), integer, float and integer-list node attributes, node domains, and
 * initializers as raw bytes (tests build contrib-op graphs with them; the lowering of
 * `onnx-contrib-lowering.ts` encodes its nodes and constants with {@link encodeNode} and
 * {@link encodeTensor}). Field numbers follow onnx.proto3 (ModelProto 1/2/7/8, GraphProto
 * 1/2/5/11/12, NodeProto 1–5/7, AttributeProto 1/2/3/8/20, TensorProto 1/2/8/9, ValueInfoProto 1/2,
 * TypeProto.Tensor 1/2, TensorShapeProto.Dimension 1/2, OperatorSetIdProto 1/2).
 */

/** ONNX TensorProto element types this writer declares. */
export const ONNX_ELEMENT_TYPES = { float32: 1, float16: 10, int64: 7, int32: 6 } as const;

/** A tensor input or output of a graph: name, ONNX element type and shape (numbers fixed, strings symbolic). */
export interface OnnxValue {
  /** Tensor name. */
  name: string;
  /** ONNX element type (see {@link ONNX_ELEMENT_TYPES}). */
  elemType: number;
  /** Dimensions: a number is fixed, a string a symbolic dimension (`dim_param`). */
  dims: readonly (number | string)[];
}

/** One node of a graph. */
export interface OnnxNode {
  /** Operator type of the default domain (opset {@link onnxModelBytes}'s `opset`). */
  op: string;
  /** Input tensor names. */
  inputs: readonly string[];
  /** Output tensor names. */
  outputs: readonly string[];
  /** Integer attributes (e.g. `axis`, `to`); floats are written when not an integer-valued attribute in `floatAttributes`. */
  attributes?: Readonly<Record<string, number>>;
  /** Float attributes (e.g. `alpha`). */
  floatAttributes?: Readonly<Record<string, number>>;
  /** Integer-list attributes (e.g. `perm`, `pads`). */
  intListAttributes?: Readonly<Record<string, readonly number[]>>;
  /** Operator domain (default '' = ONNX; e.g. `com.microsoft`). */
  domain?: string;
  /** Node name (default `<op>_<index>`). */
  name?: string;
}

/** A graph: nodes in topological order, typed inputs and outputs. */
export interface OnnxGraph {
  /** Graph name. */
  name: string;
  /** Nodes, each after the producers of its inputs. */
  nodes: readonly OnnxNode[];
  /** Graph inputs. */
  inputs: readonly OnnxValue[];
  /** Graph outputs. */
  outputs: readonly OnnxValue[];
  /** Constant tensors (weights), stored in the file as raw little-endian bytes. */
  initializers?: readonly OnnxInitializer[];
}

/** A constant tensor of a graph. */
export interface OnnxInitializer {
  /** Tensor name. */
  name: string;
  /** ONNX element type (see {@link ONNX_ELEMENT_TYPES}). */
  elemType: number;
  /** Dimensions. */
  dims: readonly number[];
  /** Data as little-endian bytes (e.g. `new Uint8Array(float32Array.buffer)`). */
  raw: Uint8Array;
}

/** Protobuf varint bytes of a non-negative integer (a tag, a length, an unsigned value). */
export function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** Protobuf varint of a signed int64 (two's complement, 10 bytes for negatives). */
function signedVarint(value: number): number[] {
  if (value >= 0) return varint(value);
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  while (v > 0x7fn) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}

const encoder = new TextEncoder();
/** A length-delimited protobuf field (wire type 2). */
const bytesField = (field: number, bytes: readonly number[] | Uint8Array): number[] => [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
/** A string protobuf field. */
const stringField = (field: number, text: string): number[] => bytesField(field, encoder.encode(text));
/** A varint protobuf field (wire type 0). */
const intField = (field: number, value: number): number[] => [...varint(field << 3), ...signedVarint(value)];
/** A 32-bit float protobuf field (wire type 5). */
function floatField(field: number, value: number): number[] {
  const bytes = new Uint8Array(new Float32Array([value]).buffer);
  return [...varint((field << 3) | 5), ...bytes];
}

function valueInfo(v: OnnxValue): number[] {
  // TensorShapeProto { dim: [Dimension { dim_value | dim_param }] }
  const shape = v.dims.map((d) => bytesField(1, typeof d === 'number' ? intField(1, d) : stringField(2, d))).flat();
  // TypeProto { tensor_type: TypeProto.Tensor { elem_type, shape } }
  const type = bytesField(1, [...intField(1, v.elemType), ...bytesField(2, shape)]);
  // ValueInfoProto { name, type }
  return [...stringField(1, v.name), ...bytesField(2, type)];
}

function node(n: OnnxNode, index: number): number[] {
  return [...encodeNode({ ...n, name: n.name ?? `${n.op.toLowerCase()}_${index}` })];
}

/** A node for {@link encodeNode}: {@link OnnxNode} with its name. */
export interface OnnxNodeSpec extends OnnxNode {
  /** Node name. */
  name: string;
  /** Encoded AttributeProto payloads added as they are (e.g. a replaced node's `pads`, `auto_pad`). */
  rawAttributes?: readonly Uint8Array[];
}

/** The NodeProto payload of `n` (attributes: INT, FLOAT and INTS). */
export function encodeNode(n: OnnxNodeSpec): Uint8Array {
  const attrs = [
    // AttributeProto { name, i, type: INT (2) }
    ...Object.entries(n.attributes ?? {}).map(([name, value]) => bytesField(5, [...stringField(1, name), ...intField(3, value), ...intField(20, 2)])),
    // AttributeProto { name, f, type: FLOAT (1) }
    ...Object.entries(n.floatAttributes ?? {}).map(([name, value]) => bytesField(5, [...stringField(1, name), ...floatField(2, value), ...intField(20, 1)])),
    // AttributeProto { name, ints (unpacked), type: INTS (7) }
    ...Object.entries(n.intListAttributes ?? {}).map(([name, values]) => bytesField(5, [...stringField(1, name), ...values.flatMap((v) => intField(8, v)), ...intField(20, 7)])),
    ...(n.rawAttributes ?? []).map((payload) => bytesField(5, payload)),
  ].flat();
  // NodeProto { input, output, name, op_type, attribute, domain }
  return Uint8Array.from([
    ...n.inputs.flatMap((name) => stringField(1, name)),
    ...n.outputs.flatMap((name) => stringField(2, name)),
    ...stringField(3, n.name),
    ...stringField(4, n.op),
    ...attrs,
    ...(n.domain ? stringField(7, n.domain) : []),
  ]);
}

/** The OperatorSetIdProto payload of an opset import (ModelProto field 8): domain ('' = ONNX) and version. */
export function encodeOpsetImport(domain: string, version: number): Uint8Array {
  return Uint8Array.from([...stringField(1, domain), ...intField(2, version)]);
}

/** The TensorProto payload of an initializer: dims, data_type, name, raw_data (little-endian bytes). */
export function encodeTensor(name: string, elemType: number, dims: readonly number[], raw: Uint8Array): Uint8Array {
  return Uint8Array.from([...dims.flatMap((d) => intField(1, d)), ...intField(2, elemType), ...stringField(8, name), ...bytesField(9, raw)]);
}

/**
 * The bytes of an ONNX model (IR 8, default-domain opset `opset`, default 17, plus `domains`,
 * e.g. `{ 'com.microsoft': 1 }`) holding `graph`.
 */
export function onnxModelBytes(graph: OnnxGraph, opset = 17, domains: Readonly<Record<string, number>> = {}): Uint8Array {
  // GraphProto { node, name, initializer, input, output }
  const g = [
    ...graph.nodes.flatMap((n, i) => bytesField(1, node(n, i))),
    ...stringField(2, graph.name),
    ...(graph.initializers ?? []).flatMap((t) => bytesField(5, encodeTensor(t.name, t.elemType, t.dims, t.raw))),
    ...graph.inputs.flatMap((v) => bytesField(11, valueInfo(v))),
    ...graph.outputs.flatMap((v) => bytesField(12, valueInfo(v))),
  ];
  // ModelProto { ir_version, producer_name, graph, opset_import { domain "", version } }
  return Uint8Array.from([
    ...intField(1, 8),
    ...stringField(2, 'vlm-grpo'),
    ...bytesField(7, g),
    ...bytesField(8, encodeOpsetImport('', opset)),
    ...Object.entries(domains).flatMap(([domain, version]) => bytesField(8, encodeOpsetImport(domain, version))),
  ]);
}
