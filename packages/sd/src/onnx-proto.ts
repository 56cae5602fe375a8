/**
 * A minimal ONNX protobuf writer for small graphs built at run time (GPU uploads, scheduler steps):
 * `ModelProto { ir_version 8, graph, opset_import }` with nodes, typed inputs/outputs (fixed or
 * symbolic dimensions) and integer or float node attributes. No initializers: constants are
 * passed as inputs. Field numbers follow onnx.proto3 (ModelProto 1/2/7/8, GraphProto 1/2/11/12,
 * NodeProto 1–5, AttributeProto 1/2/3/20, ValueInfoProto 1/2, TypeProto.Tensor 1/2,
 * TensorShapeProto.Dimension 1/2, OperatorSetIdProto 1/2).
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
}

function varint(value: number): number[] {
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
  const attrs = [
    // AttributeProto { name, i, type: INT (2) }
    ...Object.entries(n.attributes ?? {}).map(([name, value]) => bytesField(5, [...stringField(1, name), ...intField(3, value), ...intField(20, 2)])),
    // AttributeProto { name, f, type: FLOAT (1) }
    ...Object.entries(n.floatAttributes ?? {}).map(([name, value]) => bytesField(5, [...stringField(1, name), ...floatField(2, value), ...intField(20, 1)])),
  ].flat();
  // NodeProto { input, output, name, op_type, attribute }
  return [
    ...n.inputs.flatMap((name) => stringField(1, name)),
    ...n.outputs.flatMap((name) => stringField(2, name)),
    ...stringField(3, `${n.op.toLowerCase()}_${index}`),
    ...stringField(4, n.op),
    ...attrs,
  ];
}

/** The bytes of an ONNX model (IR 8, default-domain opset `opset`, default 17) holding `graph`. */
export function onnxModelBytes(graph: OnnxGraph, opset = 17): Uint8Array {
  // GraphProto { node, name, input, output }
  const g = [
    ...graph.nodes.flatMap((n, i) => bytesField(1, node(n, i))),
    ...stringField(2, graph.name),
    ...graph.inputs.flatMap((v) => bytesField(11, valueInfo(v))),
    ...graph.outputs.flatMap((v) => bytesField(12, valueInfo(v))),
  ];
  // ModelProto { ir_version, producer_name, graph, opset_import { domain "", version } }
  return Uint8Array.from([...intField(1, 8), ...stringField(2, 'vlm-grpo'), ...bytesField(7, g), ...bytesField(8, [...stringField(1, ''), ...intField(2, opset)])]);
}
