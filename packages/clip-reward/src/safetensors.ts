/**
 * A minimal safetensors reader and writer (format of huggingface/safetensors, README "Format"):
 *
 *   bytes [0, 8)        N, unsigned 64-bit little-endian: size of the JSON header
 *   bytes [8, 8 + N)    UTF-8 JSON: { "__metadata__"?: {string: string},
 *                                     <name>: { dtype, shape: number[], data_offsets: [begin, end] } }
 *   bytes [8 + N, end)  the byte buffer; data_offsets are relative to its start, little-endian, C order
 *
 * This package keeps its own copy (packages stay independent). Floating dtypes F64, F32, F16 and
 * BF16 convert to Float32Array; integer and bool tensors can be listed but not converted.
 * Departures from the Rust reference: none in what is accepted for reading, except that holes
 * between tensors are tolerated (the reference rejects them); the writer pads the header with
 * spaces to a multiple of 8 bytes as the reference does.
 */
import { SafetensorsError } from './errors.js';

/** Bytes per element of every safetensors dtype. */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/** Where one tensor lives in a safetensors file. */
export interface SafetensorsTensorInfo {
  /** Tensor name (header key). */
  name: string;
  /** Safetensors dtype, e.g. `F32`, `F16`, `BF16`. */
  dtype: string;
  /** Shape (empty for a scalar). */
  shape: number[];
  /** Absolute byte offset of the first element in the file. */
  byteOffset: number;
  /** Number of bytes. */
  byteLength: number;
}

/** Parsed header of a safetensors file. */
export interface SafetensorsHeader {
  /** `__metadata__` entries (empty when absent). */
  metadata: Record<string, string>;
  /** Tensors by name, in header order. */
  tensors: Map<string, SafetensorsTensorInfo>;
  /** Total file size the header implies (8 + N + data bytes). */
  dataEnd: number;
}

const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** Parse the 8-byte prefix and JSON header. `fileSize` bounds the data offsets. */
export function parseSafetensorsHeader(prefix: Uint8Array, fileSize: number, file = '<buffer>'): SafetensorsHeader {
  if (prefix.byteLength < 8 || fileSize < 8) throw new SafetensorsError(file, 'shorter than the 8-byte header length prefix');
  const view = new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (n > MAX_HEADER_BYTES || 8 + n > fileSize) {
    throw new SafetensorsError(file, `header length ${n} does not fit in a ${fileSize}-byte file`);
  }
  if (prefix.byteLength < 8 + n) throw new SafetensorsError(file, `truncated header: need ${8 + n} bytes`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(prefix.subarray(8, 8 + n)));
  } catch (cause) {
    throw new SafetensorsError(file, 'header is not valid UTF-8 JSON', { cause });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new SafetensorsError(file, 'header must be a JSON object');
  }
  const dataStart = 8 + n;
  const tensors = new Map<string, SafetensorsTensorInfo>();
  let metadata: Record<string, string> = {};
  let dataEnd = dataStart;
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null) throw new SafetensorsError(file, '__metadata__ must be an object');
      metadata = Object.fromEntries(Object.entries(entry as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== 'object' || e === null || typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) {
      throw new SafetensorsError(file, `tensor "${name}": unknown or missing dtype ${JSON.stringify(e?.dtype)}`);
    }
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(file, `tensor "${name}": shape must be an array of non-negative integers`);
    }
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      throw new SafetensorsError(file, `tensor "${name}": data_offsets must be [begin, end]`);
    }
    const [begin, end] = offsets as [number, number];
    const shape = e.shape as number[];
    const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[e.dtype]!;
    if (end < begin || end - begin !== expected) {
      throw new SafetensorsError(
        file,
        `tensor "${name}": data_offsets [${begin}, ${end}] span ${end - begin} bytes, shape [${shape.join(', ')}] ${e.dtype} needs ${expected}`,
      );
    }
    if (dataStart + end > fileSize) {
      throw new SafetensorsError(file, `tensor "${name}": data ends at byte ${dataStart + end}, past the end of the file (${fileSize})`);
    }
    dataEnd = Math.max(dataEnd, dataStart + end);
    tensors.set(name, { name, dtype: e.dtype, shape, byteOffset: dataStart + begin, byteLength: end - begin });
  }
  return { metadata, tensors, dataEnd };
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** Convert the raw little-endian bytes of a floating tensor to Float32Array. */
export function decodeFloatTensor(bytes: Uint8Array, dtype: string, what = 'tensor'): Float32Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = DTYPE_BYTES[dtype];
  if (size === undefined) throw new SafetensorsError('<buffer>', `${what}: unknown dtype ${dtype}`);
  const n = bytes.byteLength / size;
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      break;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      break;
    case 'F16':
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      break;
    case 'BF16': {
      const tmp = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < n; i++) {
        tmp.setUint32(0, view.getUint16(i * 2, true) << 16, false);
        out[i] = tmp.getFloat32(0, false);
      }
      break;
    }
    default:
      throw new SafetensorsError('<buffer>', `${what}: dtype ${dtype} is not a floating type (expected F32, F64, F16 or BF16)`);
  }
  return out;
}

/** A safetensors file held in memory. */
export class SafetensorsFile {
  /** `__metadata__` entries. */
  readonly metadata: Record<string, string>;
  private readonly tensors: Map<string, SafetensorsTensorInfo>;
  private readonly bytes: Uint8Array;
  private readonly file: string;

  private constructor(bytes: Uint8Array, header: SafetensorsHeader, file: string) {
    this.bytes = bytes;
    this.metadata = header.metadata;
    this.tensors = header.tensors;
    this.file = file;
  }

  /** Parse a whole file held in memory. `file` names it in error messages. */
  static fromBytes(bytes: Uint8Array, file = '<buffer>'): SafetensorsFile {
    return new SafetensorsFile(bytes, parseSafetensorsHeader(bytes, bytes.byteLength, file), file);
  }

  /** Read and parse a file from disk. */
  static async read(path: string): Promise<SafetensorsFile> {
    const { readFile } = await import('node:fs/promises');
    let bytes: Uint8Array;
    try {
      bytes = await readFile(path);
    } catch (cause) {
      throw new SafetensorsError(path, 'cannot be read', { cause });
    }
    return SafetensorsFile.fromBytes(bytes, path);
  }

  /** Names of all tensors, in header order. */
  names(): string[] {
    return [...this.tensors.keys()];
  }

  /** Dtype, shape and location of one tensor, or undefined if absent. */
  info(name: string): SafetensorsTensorInfo | undefined {
    return this.tensors.get(name);
  }

  /** One floating tensor as Float32Array (C order). */
  getFloat32(name: string): Float32Array {
    const info = this.tensors.get(name);
    if (!info) throw new SafetensorsError(this.file, `has no tensor "${name}" (has: ${this.names().join(', ') || 'none'})`);
    return decodeFloatTensor(this.bytes.subarray(info.byteOffset, info.byteOffset + info.byteLength), info.dtype, `tensor "${name}"`);
  }
}

/**
 * Read one floating tensor from a file without loading the whole file (reads the header, then only
 * that tensor's bytes). Returns undefined when the file has no tensor of that name.
 */
export async function readSafetensorsTensor(path: string, name: string): Promise<{ data: Float32Array; shape: number[] } | undefined> {
  const { open } = await import('node:fs/promises');
  const handle = await open(path, 'r').catch((cause: unknown) => {
    throw new SafetensorsError(path, 'cannot be opened', { cause });
  });
  try {
    const { size } = await handle.stat();
    const lenBuf = new Uint8Array(8);
    await handle.read(lenBuf, 0, 8, 0);
    const n = Number(new DataView(lenBuf.buffer).getBigUint64(0, true));
    if (n > MAX_HEADER_BYTES || 8 + n > size) throw new SafetensorsError(path, `header length ${n} does not fit in a ${size}-byte file`);
    const prefix = new Uint8Array(8 + n);
    await handle.read(prefix, 0, 8 + n, 0);
    const header = parseSafetensorsHeader(prefix, size, path);
    const info = header.tensors.get(name);
    if (!info) return undefined;
    const bytes = new Uint8Array(info.byteLength);
    await handle.read(bytes, 0, info.byteLength, info.byteOffset);
    return { data: decodeFloatTensor(bytes, info.dtype, `tensor "${name}"`), shape: info.shape };
  } finally {
    await handle.close();
  }
}

/** One tensor to write: float32 data in C order and its shape. */
export interface SafetensorsTensorInput {
  /** Values, C order; length must equal the product of `shape`. */
  data: Float32Array | readonly number[];
  /** Shape (empty for a scalar). */
  shape: readonly number[];
}

/**
 * Encode float32 tensors as a safetensors file (dtype F32, tensors in the order given, header padded
 * with spaces to a multiple of 8 bytes).
 */
export function encodeSafetensors(
  tensors: Readonly<Record<string, SafetensorsTensorInput>>,
  metadata?: Readonly<Record<string, string>>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = { ...metadata };
  let offset = 0;
  const entries = Object.entries(tensors);
  for (const [name, t] of entries) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    if (count !== t.data.length) {
      throw new SafetensorsError('<buffer>', `tensor "${name}": ${t.data.length} values for shape [${t.shape.join(', ')}]`);
    }
    header[name] = { dtype: 'F32', shape: [...t.shape], data_offsets: [offset, offset + count * 4] };
    offset += count * 4;
  }
  let json = JSON.stringify(header);
  while ((8 + new TextEncoder().encode(json).byteLength) % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.byteLength;
  for (const [, t] of entries) {
    for (let i = 0; i < t.data.length; i++, pos += 4) view.setFloat32(pos, t.data[i]!, true);
  }
  return out;
}
