/**
 * A small ONNX protobuf writer for tests: enough of onnx.proto (ModelProto, GraphProto, NodeProto,
 * TensorProto with raw or external data, ValueInfoProto) to build graphs ONNX Runtime loads.
 */
export const varint = (value: number): number[] => {
  const out: number[] = [];
  let rest = value;
  while (rest >= 0x80) {
    out.push((rest % 128) | 0x80);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
};
export const bytesField = (field: number, bytes: readonly number[] | Uint8Array): number[] => [...varint(field * 8 + 2), ...varint(bytes.length), ...bytes];
export const stringField = (field: number, text: string): number[] => bytesField(field, [...Buffer.from(text, 'utf8')]);
export const intField = (field: number, value: number): number[] => [...varint(field * 8), ...varint(value)];

/** ONNX element types used here. */
export const FLOAT = 1;
export const BOOL = 9;
export const INT64 = 7;

/** A TensorProto initializer: float data inline, or stored externally at `location`. */
export function tensor(name: string, dims: number[], values: Float32Array | { location: string; length: number }, dataType = FLOAT): number[] {
  const parts = [...dims.flatMap((dim) => intField(1, dim)), ...intField(2, dataType), ...stringField(8, name)];
  if (values instanceof Float32Array) return [...parts, ...bytesField(9, new Uint8Array(values.buffer, values.byteOffset, values.byteLength))];
  const entry = (key: string, value: string) => bytesField(13, [...stringField(1, key), ...stringField(2, value)]);
  return [...parts, ...entry('location', values.location), ...entry('offset', '0'), ...entry('length', String(values.length)), ...intField(14, 1)];
}

/** A ValueInfoProto with a tensor type; `null` dims are symbolic (`dim_param`). */
export function valueInfo(name: string, elemType: number, dims: (number | string)[]): number[] {
  const shape = dims.flatMap((dim) => bytesField(1, typeof dim === 'number' ? intField(1, dim) : stringField(2, dim)));
  const tensorType = [...intField(1, elemType), ...bytesField(2, shape)];
  return [...stringField(1, name), ...bytesField(2, bytesField(1, tensorType))];
}

/** An attribute of a node: ints (`axes`), int, or float. */
export function attribute(name: string, value: { ints: number[] } | { int: number } | { float: number }): number[] {
  if ('ints' in value) return [...stringField(1, name), ...value.ints.flatMap((v) => intField(8, v)), ...intField(20, 7)];
  if ('int' in value) return [...stringField(1, name), ...intField(3, value.int), ...intField(20, 2)];
  const buffer = Buffer.alloc(4);
  buffer.writeFloatLE(value.float);
  return [...stringField(1, name), ...varint(2 * 8 + 5), ...buffer, ...intField(20, 1)];
}

/** A NodeProto. */
export function node(op: string, inputs: string[], outputs: string[], name: string, attributes: number[][] = []): number[] {
  return [...inputs.flatMap((i) => stringField(1, i)), ...outputs.flatMap((o) => stringField(2, o)), ...stringField(3, name), ...stringField(4, op), ...attributes.flatMap((a) => bytesField(5, a))];
}

/** A ModelProto (IR 8, opset 17) around a graph. */
export function model(graph: { nodes: number[][]; initializers?: number[][]; inputs: number[][]; outputs: number[][]; name?: string }): Uint8Array {
  const body = [
    ...graph.nodes.flatMap((n) => bytesField(1, n)),
    ...stringField(2, graph.name ?? 'graph'),
    ...(graph.initializers ?? []).flatMap((t) => bytesField(5, t)),
    ...graph.inputs.flatMap((i) => bytesField(11, i)),
    ...graph.outputs.flatMap((o) => bytesField(12, o)),
  ];
  return Uint8Array.from([...intField(1, 8), ...stringField(2, 'vlm-grpo-test'), ...bytesField(7, body), ...bytesField(8, [...stringField(1, ''), ...intField(2, 17)])]);
}
