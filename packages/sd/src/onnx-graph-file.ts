/**
 * An ONNX model file's graph read without loading its weights, and rewritten file to file.
 *
 * {@link readOnnxGraph} walks the protobuf of `model.onnx` with positional reads: the nodes, the
 * graph's inputs, outputs and `value_info` are decoded (they are small); every initializer is only
 * located (its name, element type, dims and whether its data is external are read from the
 * TensorProto header, the data itself is skipped). A 1.7 GB fp16 UNet is walked in well under a
 * second with a few MB of memory.
 *
 * {@link writeOnnxGraph} writes a copy whose node list is replaced (and initializers added): the
 * model's other fields and the graph's other fields (initializers, inputs, outputs, value_info, …)
 * are copied byte for byte in 16 MiB chunks, so the rewrite never holds the weights in memory.
 * Repeated fields keep their order, so the new nodes must be in topological order.
 *
 * Field numbers follow onnx.proto3: ModelProto graph 7; GraphProto node 1, initializer 5,
 * input 11, output 12, value_info 13; NodeProto input 1, output 2, name 3, op_type 4,
 * attribute 5, domain 7; AttributeProto name 1, f 2, i 3, s 4, floats 7, ints 8, type 20;
 * TensorProto dims 1, data_type 2, name 8, data_location 14; ValueInfoProto name 1, type 2;
 * TypeProto tensor_type 1; TypeProto.Tensor elem_type 1.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { float16BitsToFloat32 } from './numeric.js';
import { encodeOpsetImport, varint } from './onnx-proto.js';

/** A decoded attribute of a node (the kinds the lowering reads and writes). */
export interface OnnxAttribute {
  /** AttributeProto.type: 1 FLOAT, 2 INT, 3 STRING, 6 FLOATS, 7 INTS (others are kept only as raw bytes). */
  type: number;
  /** FLOAT value. */
  f?: number;
  /** INT value. */
  i?: number;
  /** STRING value (UTF-8). */
  s?: string;
  /** FLOATS values. */
  floats?: number[];
  /** INTS values. */
  ints?: number[];
  /** Element type of a TENSOR value (`Constant`'s `value`, `ConstantOfShape`'s `value`). */
  tensorElemType?: number;
  /** Values of a small TENSOR value (≤ 64 float32, float16, float64, int32 or int64 elements), row-major. */
  tensorValues?: number[];
}

/** A node as read from the file (decoded fields plus its original encoding). */
export interface OnnxFileNode {
  /** Input names ('' for an omitted optional input). */
  inputs: string[];
  /** Output names ('' for an omitted optional output). */
  outputs: string[];
  /** Node name ('' when the file has none). */
  name: string;
  /** Operator type. */
  opType: string;
  /** Operator domain ('' = the default ONNX domain). */
  domain: string;
  /** Attributes by name. */
  attributes: Map<string, OnnxAttribute>;
  /** The AttributeProto payloads as stored (copied onto a replacement node that keeps them). */
  rawAttributes: Uint8Array[];
  /** The NodeProto bytes as stored (written back unchanged for kept nodes). */
  raw: Uint8Array;
}

/** Where one graph field lies in the file. */
interface FieldSpan {
  /** Field number. */
  field: number;
  /** Offset of the field's tag. */
  start: number;
  /** Offset just past the field. */
  end: number;
}

/** An initializer's header. */
export interface OnnxInitializerInfo {
  /** Tensor name. */
  name: string;
  /** ONNX element type (TensorProto.DataType). */
  elemType: number;
  /** Dimensions. */
  dims: number[];
  /** Whether its data lives in an external file (data_location EXTERNAL). */
  external: boolean;
}

/** The graph of an ONNX file, read by {@link readOnnxGraph}. */
export interface OnnxGraphFile {
  /** The file read. */
  path: string;
  /** Nodes in file order. */
  nodes: OnnxFileNode[];
  /** Element types known without running the model: graph inputs, outputs, value_info, initializers. */
  declaredTypes: Map<string, number>;
  /** Initializer headers by name. */
  initializers: Map<string, OnnxInitializerInfo>;
  /** Names of the graph's outputs. */
  outputs: Set<string>;
  /** Opset version per domain ('' = default ONNX domain). */
  opsets: Map<string, number>;
  /** Whether any initializer keeps its data in an external file. */
  usesExternalData: boolean;
  /** @internal Top-level ModelProto fields. */
  modelFields: FieldSpan[];
  /** @internal GraphProto fields other than nodes. */
  graphFields: FieldSpan[];
}

/** Raised for a file that is not an ONNX protobuf this reader understands (names the file and offset). */
export class OnnxFileFormatError extends Error {
  override name = 'OnnxFileFormatError';
}

/** Read window: small, because initializer headers are read at scattered offsets. */
const WINDOW = 64 << 10;

/** Positional reads through a 64 KiB window. */
class FileBytes {
  private readonly buffer = Buffer.allocUnsafe(WINDOW);
  private windowStart = 0;
  private windowEnd = 0;

  constructor(
    readonly fd: number,
    readonly size: number,
    readonly path: string,
  ) {}

  private fill(offset: number): void {
    const n = readSync(this.fd, this.buffer, 0, Math.min(WINDOW, this.size - offset), offset);
    this.windowStart = offset;
    this.windowEnd = offset + n;
  }

  byte(offset: number): number {
    if (offset >= this.size) throw new OnnxFileFormatError(`${this.path}: truncated protobuf at byte ${offset}`);
    if (offset < this.windowStart || offset >= this.windowEnd) this.fill(offset);
    return this.buffer[offset - this.windowStart]!;
  }

  /** A copy of bytes [start, end). */
  slice(start: number, end: number): Uint8Array {
    if (end > this.size) throw new OnnxFileFormatError(`${this.path}: truncated protobuf (field ends at ${end}, file has ${this.size} bytes)`);
    if (start >= this.windowStart && end <= this.windowEnd) return Uint8Array.from(this.buffer.subarray(start - this.windowStart, end - this.windowStart));
    const out = Buffer.allocUnsafe(end - start);
    let done = 0;
    while (done < out.length) {
      const n = readSync(this.fd, out, done, out.length - done, start + done);
      if (n === 0) throw new OnnxFileFormatError(`${this.path}: truncated at byte ${start + done}`);
      done += n;
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }

  /** Varint at `offset`: [value, next offset]. Values above 2^53 lose precision (never lengths here). */
  varint(offset: number): [number, number] {
    let value = 0;
    let scale = 1;
    let at = offset;
    for (;;) {
      const b = this.byte(at++);
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) return [value, at];
      scale *= 128;
      if (at - offset > 10) throw new OnnxFileFormatError(`${this.path}: bad varint at byte ${offset}`);
    }
  }
}

/** One protobuf field inside [start, end) of a reader: tag data and where its payload lies. */
interface ProtoField {
  field: number;
  wire: number;
  start: number;
  /** Payload start (after the length for wire type 2). */
  payload: number;
  end: number;
  /** Varint value (wire type 0). */
  value: number;
}

function* fieldsOf(bytes: FileBytes, start: number, end: number): Generator<ProtoField> {
  let at = start;
  while (at < end) {
    const fieldStart = at;
    const [tag, afterTag] = bytes.varint(at);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    let payload = afterTag;
    let next: number;
    let value = 0;
    if (wire === 0) [value, next] = bytes.varint(afterTag);
    else if (wire === 1) next = afterTag + 8;
    else if (wire === 5) next = afterTag + 4;
    else if (wire === 2) {
      const [length, afterLength] = bytes.varint(afterTag);
      payload = afterLength;
      next = afterLength + length;
    } else throw new OnnxFileFormatError(`${bytes.path}: unsupported protobuf wire type ${wire} at byte ${fieldStart}`);
    if (next > end) throw new OnnxFileFormatError(`${bytes.path}: field ${field} at byte ${fieldStart} runs past its message`);
    yield { field, wire, start: fieldStart, payload, end: next, value };
    at = next;
  }
}

/**
 * The varint at `at` of in-memory bytes: [value, next offset]. Varints are int64 two's complement:
 * values that do not fit 53 bits are read exactly as BigInt and returned as the signed number
 * (so -1 is -1).
 */
function varintAt(data: Uint8Array, at: number): [number, number] {
  const start = at;
  let value = 0;
  let scale = 1;
  for (;;) {
    const b = data[at++];
    if (b === undefined) throw new OnnxFileFormatError('truncated varint');
    value += (b & 0x7f) * scale;
    if ((b & 0x80) === 0) break;
    scale *= 128;
  }
  if (at - start < 8) return [value, at];
  let big = 0n;
  for (let k = at - 1; k >= start; k--) big = (big << 7n) | BigInt(data[k]! & 0x7f);
  return [Number(BigInt.asIntN(64, big)), at];
}

/** In-memory protobuf fields of a small message (varints as {@link varintAt} reads them). */
function* memoryFields(data: Uint8Array): Generator<{ field: number; wire: number; value: number; bytes: Uint8Array }> {
  let at = 0;
  const varint = (): number => {
    const [value, next] = varintAt(data, at);
    at = next;
    return value;
  };
  while (at < data.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) {
      yield { field, wire, value: varint(), bytes: new Uint8Array() };
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      yield { field, wire, value: 0, bytes: data.subarray(at, at + n) };
      at += n;
    } else if (wire === 2) {
      const length = varint();
      yield { field, wire, value: 0, bytes: data.subarray(at, at + length) };
      at += length;
    } else throw new OnnxFileFormatError(`unsupported wire type ${wire}`);
  }
}

const decoder = new TextDecoder();

/** Packed varints (repeated int32/int64 fields). */
function packedVarints(bytes: Uint8Array): number[] {
  const out: number[] = [];
  for (let at = 0; at < bytes.length; ) {
    const [value, next] = varintAt(bytes, at);
    out.push(value);
    at = next;
  }
  return out;
}

/** Little-endian float32 values of `bytes` (a packed repeated float field, or one fixed32 value). */
function float32s(bytes: Uint8Array): number[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const out: number[] = [];
  for (let k = 0; k + 4 <= bytes.length; k += 4) out.push(view.getFloat32(k, true));
  return out;
}

/** Element type and, for small numeric tensors, the values of a TensorProto held in memory. */
function decodeSmallTensor(data: Uint8Array): { elemType: number; values?: number[] } {
  let elemType = 0;
  let raw: Uint8Array | undefined;
  const listed: number[] = [];
  for (const t of memoryFields(data)) {
    if (t.field === 2) elemType = t.value;
    else if (t.field === 9) raw = t.bytes;
    else if (t.field === 4) listed.push(...float32s(t.bytes)); // float_data (packed or not)
    else if (t.field === 5 || t.field === 7) {
      // int32_data / int64_data
      if (t.wire === 2) listed.push(...packedVarints(t.bytes));
      else listed.push(t.value);
    } else if (t.field === 10) {
      for (let k = 0; k + 8 <= t.bytes.length; k += 8) listed.push(new DataView(t.bytes.buffer, t.bytes.byteOffset + k, 8).getFloat64(0, true));
    }
  }
  if (!raw) return listed.length > 0 && listed.length <= 64 ? { elemType, values: listed } : { elemType };
  const view = new DataView(raw.buffer, raw.byteOffset, raw.length);
  const size = { 1: 4, 6: 4, 7: 8, 10: 2, 11: 8 }[elemType as 1 | 6 | 7 | 10 | 11];
  if (!size || raw.length / size > 64 || raw.length % size !== 0) return { elemType };
  const values: number[] = [];
  for (let k = 0; k < raw.length; k += size) {
    if (elemType === 1) values.push(view.getFloat32(k, true));
    else if (elemType === 6) values.push(view.getInt32(k, true));
    else if (elemType === 7) values.push(Number(view.getBigInt64(k, true)));
    else if (elemType === 10) values.push(float16BitsToFloat32(view.getUint16(k, true)));
    else values.push(view.getFloat64(k, true));
  }
  return { elemType, values };
}

function decodeAttribute(data: Uint8Array): [string, OnnxAttribute] {
  let name = '';
  const attribute: OnnxAttribute = { type: 0 };
  for (const f of memoryFields(data)) {
    if (f.field === 1) name = decoder.decode(f.bytes);
    else if (f.field === 20) attribute.type = f.value;
    else if (f.field === 2) attribute.f = float32s(f.bytes)[0];
    else if (f.field === 3) attribute.i = f.value;
    else if (f.field === 4) attribute.s = decoder.decode(f.bytes);
    else if (f.field === 5) {
      const tensor = decodeSmallTensor(f.bytes);
      attribute.tensorElemType = tensor.elemType;
      if (tensor.values) attribute.tensorValues = tensor.values;
    } else if (f.field === 7) (attribute.floats ??= []).push(...float32s(f.bytes)); // packed or one fixed32
    else if (f.field === 8) {
      const ints = (attribute.ints ??= []);
      if (f.wire === 2) ints.push(...packedVarints(f.bytes));
      else ints.push(f.value);
    }
  }
  return [name, attribute];
}

/** Decode a NodeProto. */
export function decodeNode(raw: Uint8Array): OnnxFileNode {
  const node: OnnxFileNode = { inputs: [], outputs: [], name: '', opType: '', domain: '', attributes: new Map(), rawAttributes: [], raw };
  for (const f of memoryFields(raw)) {
    if (f.field === 1) node.inputs.push(decoder.decode(f.bytes));
    else if (f.field === 2) node.outputs.push(decoder.decode(f.bytes));
    else if (f.field === 3) node.name = decoder.decode(f.bytes);
    else if (f.field === 4) node.opType = decoder.decode(f.bytes);
    else if (f.field === 7) node.domain = decoder.decode(f.bytes);
    else if (f.field === 5) {
      const [name, attribute] = decodeAttribute(f.bytes);
      node.attributes.set(name, attribute);
      node.rawAttributes.push(f.bytes);
    }
  }
  if (node.domain === 'ai.onnx') node.domain = '';
  return node;
}

/** Name and element type of a ValueInfoProto (elem type 0 when it is not a tensor). */
function decodeValueInfo(raw: Uint8Array): [string, number] {
  let name = '';
  let elemType = 0;
  for (const f of memoryFields(raw)) {
    if (f.field === 1) name = decoder.decode(f.bytes);
    else if (f.field === 2) {
      for (const t of memoryFields(f.bytes)) {
        if (t.field !== 1) continue; // tensor_type
        for (const e of memoryFields(t.bytes)) if (e.field === 1) elemType = e.value;
      }
    }
  }
  return [name, elemType];
}

function readInitializer(bytes: FileBytes, start: number, end: number): OnnxInitializerInfo {
  const info: OnnxInitializerInfo = { name: '', elemType: 0, dims: [], external: false };
  for (const f of fieldsOf(bytes, start, end)) {
    if (f.field === 1) {
      if (f.wire === 2) info.dims.push(...packedVarints(bytes.slice(f.payload, f.end)));
      else info.dims.push(f.value);
    } else if (f.field === 2) info.elemType = f.value;
    else if (f.field === 8) info.name = decoder.decode(bytes.slice(f.payload, f.end));
    else if (f.field === 14) info.external = f.value === 1;
  }
  return info;
}

/** Read the graph of the ONNX file at `path` (see the module comment). */
export function readOnnxGraph(path: string): OnnxGraphFile {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const bytes = new FileBytes(fd, size, path);
    const result: OnnxGraphFile = {
      path,
      nodes: [],
      declaredTypes: new Map(),
      initializers: new Map(),
      outputs: new Set(),
      opsets: new Map(),
      usesExternalData: false,
      modelFields: [],
      graphFields: [],
    };
    let sawGraph = false;
    for (const field of fieldsOf(bytes, 0, size)) {
      result.modelFields.push({ field: field.field, start: field.start, end: field.end });
      if (field.field === 8 && field.wire === 2) {
        // OperatorSetIdProto { domain 1, version 2 }
        let domain = '';
        let version = 0;
        for (const f of memoryFields(bytes.slice(field.payload, field.end))) {
          if (f.field === 1) domain = decoder.decode(f.bytes);
          else if (f.field === 2) version = f.value;
        }
        result.opsets.set(domain === 'ai.onnx' ? '' : domain, version);
      }
      if (field.field !== 7 || field.wire !== 2) continue;
      sawGraph = true;
      for (const g of fieldsOf(bytes, field.payload, field.end)) {
        if (g.field === 1 && g.wire === 2) {
          result.nodes.push(decodeNode(bytes.slice(g.payload, g.end)));
          continue;
        }
        result.graphFields.push({ field: g.field, start: g.start, end: g.end });
        if (g.field === 5 && g.wire === 2) {
          const info = readInitializer(bytes, g.payload, g.end);
          result.initializers.set(info.name, info);
          result.declaredTypes.set(info.name, info.elemType);
          if (info.external) result.usesExternalData = true;
        } else if ((g.field === 11 || g.field === 12 || g.field === 13) && g.wire === 2) {
          const [name, elemType] = decodeValueInfo(bytes.slice(g.payload, g.end));
          if (elemType) result.declaredTypes.set(name, elemType);
          if (g.field === 12) result.outputs.add(name);
        }
      }
    }
    if (!sawGraph) throw new OnnxFileFormatError(`${path}: no graph (ModelProto field 7) found: not an ONNX model file`);
    return result;
  } finally {
    closeSync(fd);
  }
}

/** What replaces the graph's node list and what is added to its initializers. */
export interface OnnxGraphEdit {
  /** The complete new node list (encoded NodeProto payloads), in topological order. */
  nodes: readonly Uint8Array[];
  /** Encoded TensorProto payloads appended to the graph's initializers. */
  initializers: readonly Uint8Array[];
  /** Operator sets to import that the model does not (domain → version), e.g. `com.microsoft` 1. */
  opsets?: ReadonlyMap<string, number>;
}

const COPY_CHUNK = 16 << 20;

/**
 * Write `graph`'s file with `edit` applied to `target` (through `target.tmp-<pid>` and a rename,
 * so a reader never sees half a file). The source's other bytes are copied in chunks.
 */
export function writeOnnxGraph(graph: OnnxGraphFile, edit: OnnxGraphEdit, target: string): void {
  const tmp = `${target}.tmp-${process.pid}`;
  const input = openSync(graph.path, 'r');
  let output: number | undefined;
  try {
    output = openSync(tmp, 'w');
    const out = output;
    const chunk = Buffer.allocUnsafe(COPY_CHUNK);
    const copy = (start: number, end: number): void => {
      for (let at = start; at < end; ) {
        const n = readSync(input, chunk, 0, Math.min(COPY_CHUNK, end - at), at);
        if (n === 0) throw new OnnxFileFormatError(`${graph.path}: changed while being rewritten (short read at ${at})`);
        writeSync(out, chunk, 0, n);
        at += n;
      }
    };
    const write = (data: Uint8Array | number[]): void => {
      const view = data instanceof Uint8Array ? data : Uint8Array.from(data);
      writeSync(out, view, 0, view.length);
    };
    const field = (number: number, payload: Uint8Array): number[] => [...varint((number << 3) | 2), ...varint(payload.length)];
    let graphLength = 0;
    for (const n of edit.nodes) graphLength += field(1, n).length + n.length;
    for (const g of graph.graphFields) graphLength += g.end - g.start;
    for (const t of edit.initializers) graphLength += field(5, t).length + t.length;
    for (const m of graph.modelFields) {
      if (m.field !== 7) {
        copy(m.start, m.end);
        continue;
      }
      write([...varint((7 << 3) | 2), ...varint(graphLength)]);
      for (const n of edit.nodes) {
        write(field(1, n));
        write(n);
      }
      for (const g of graph.graphFields) copy(g.start, g.end);
      for (const t of edit.initializers) {
        write(field(5, t));
        write(t);
      }
    }
    for (const [domain, version] of edit.opsets ?? []) {
      if (graph.opsets.has(domain)) continue;
      const payload = encodeOpsetImport(domain, version);
      write(field(8, payload));
      write(payload);
    }
    fsyncSync(out);
    closeSync(out);
    output = undefined;
    renameSync(tmp, target);
  } catch (error) {
    if (output !== undefined) closeSync(output);
    rmSync(tmp, { force: true });
    throw error;
  } finally {
    closeSync(input);
  }
}

/** A rewrite of some nodes of a graph, made by the lowering or the attention fusion. */
export interface GraphRewrite {
  /** Operator sets its new nodes need (domain → version). */
  opsets?: ReadonlyMap<string, number>;
  /** New NodeProto payloads per node index (placed where that node was; an empty list deletes it). */
  replace: Map<number, Uint8Array[]>;
  /** TensorProto payloads to add to the graph's initializers. */
  initializers: Uint8Array[];
  /** What was rewritten, by label (e.g. `GroupNorm`, `attention → MultiHeadAttention`), for messages. */
  counts: Map<string, number>;
}

/** Whether a node carries a subgraph (If, Loop, Scan: GRAPH or GRAPHS attributes). */
export const hasSubgraph = (node: OnnxFileNode): boolean => [...node.attributes.values()].some((a) => a.type === 5 || a.type === 10);

/**
 * The graph edit of `rewrites` applied together (they must not touch the same node). Then the
 * node list is pruned to what the graph's outputs need: nodes only a deleted node used are dropped
 * (e.g. the shape arithmetic of a fused attention), and a node a rewrite deleted is kept after all
 * if a remaining node still reads one of its outputs. Graphs with subgraphs (If, Loop, Scan), whose
 * bodies read outer tensors by name, are not pruned.
 */
export function applyRewrites(graph: OnnxGraphFile, rewrites: readonly GraphRewrite[]): OnnxGraphEdit {
  const replace = new Map<number, Uint8Array[]>();
  for (const rewrite of rewrites) {
    for (const [index, nodes] of rewrite.replace) {
      if (replace.has(index)) throw new Error(`two rewrites of node ${index} ("${graph.nodes[index]?.name}") of ${graph.path}`);
      replace.set(index, nodes);
    }
  }
  const opsets = new Map<string, number>();
  for (const rewrite of rewrites) for (const [domain, version] of rewrite.opsets ?? []) opsets.set(domain, Math.max(version, opsets.get(domain) ?? 0));
  const initializers = rewrites.flatMap((r) => r.initializers);
  if (graph.nodes.some(hasSubgraph)) {
    const nodes: Uint8Array[] = [];
    graph.nodes.forEach((node, index) => nodes.push(...(replace.get(index) ?? [node.raw])));
    return { nodes, initializers, opsets };
  }
  // Candidate nodes in order: (original index, position within a replacement).
  interface Entry {
    index: number;
    sub: number;
    raw: Uint8Array;
    inputs: string[];
  }
  const producer = new Map<string, Entry>();
  const deletedProducer = new Map<string, number>();
  const add = (entry: Entry, outputs: readonly string[]): void => {
    for (const output of outputs) if (output) producer.set(output, entry);
  };
  graph.nodes.forEach((node, index) => {
    const replacement = replace.get(index);
    if (!replacement) return add({ index, sub: 0, raw: node.raw, inputs: node.inputs }, node.outputs);
    for (const output of node.outputs) if (output) deletedProducer.set(output, index);
    replacement.forEach((raw, sub) => {
      const decoded = decodeNode(raw);
      add({ index, sub, raw, inputs: decoded.inputs }, decoded.outputs);
    });
  });
  const live = new Set<Entry>();
  const seen = new Set<string>();
  const stack = [...graph.outputs];
  while (stack.length > 0) {
    const tensor = stack.pop()!;
    if (!tensor || seen.has(tensor)) continue;
    seen.add(tensor);
    let entry = producer.get(tensor);
    if (!entry) {
      const index = deletedProducer.get(tensor);
      if (index === undefined) continue; // a graph input or an initializer
      const node = graph.nodes[index]!;
      entry = { index, sub: -1, raw: node.raw, inputs: node.inputs };
      add(entry, node.outputs);
      for (const output of node.outputs) deletedProducer.delete(output);
    }
    if (live.has(entry)) continue;
    live.add(entry);
    stack.push(...entry.inputs);
  }
  const nodes = [...live].sort((a, b) => a.index - b.index || a.sub - b.sub).map((e) => e.raw);
  return { nodes, initializers, opsets };
}
