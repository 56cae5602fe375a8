/**
 * A dependency-free safetensors reader and writer, following huggingface/safetensors
 * (`README.md`, `safetensors/src/tensor.rs`):
 *
 * - bytes 0–7: `N`, the header length, u64 little-endian (rejected above 100 000 000);
 * - bytes 8 … 8+N: a UTF-8 JSON object `{name: {dtype, shape, data_offsets: [begin, end]}}` with an
 *   optional `__metadata__` string→string map;
 * - then the data buffer; offsets are relative to it, `end` exclusive; tensors must cover it
 *   contiguously from 0 with no gap or overlap, and `end − begin` must equal the tensor's size.
 *
 * The writer pads the header with spaces to a multiple of 8 (so the data is 8-byte aligned) and
 * lays tensors out sorted by dtype alignment (descending) then by name, as the Rust writer does.
 * Data is little-endian, row-major. Float16 and bfloat16 are converted to float32 on read by
 * {@link tensorToFloat32}.
 */
import { readFile } from 'node:fs/promises';
import { SafetensorsError } from './errors.js';
import { writeFileAtomic } from '@vlm-grpo/data';

/** The dtype strings of the safetensors format. */
export const SAFETENSORS_DTYPES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  F8_E4M3FNUZ: 1,
  F8_E5M2FNUZ: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  C64: 8,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

/** One safetensors dtype string (sub-byte F4/F6 types are not supported). */
export type SafetensorsDtype = keyof typeof SAFETENSORS_DTYPES;

/** Largest header accepted (the Rust crate's `MAX_HEADER_SIZE`). */
export const MAX_SAFETENSORS_HEADER_BYTES = 100_000_000;

/** One tensor of a safetensors file: raw little-endian bytes plus dtype and shape. */
export interface SafetensorsTensor {
  /** Element type. */
  dtype: SafetensorsDtype;
  /** Dimensions; `[]` is a scalar, a 0 anywhere makes an empty tensor. */
  shape: number[];
  /** The tensor's bytes (a view into the file buffer when read). */
  data: Uint8Array;
}

/** A parsed safetensors file. */
export interface SafetensorsFile {
  /** Tensors by name, in file order. */
  tensors: Map<string, SafetensorsTensor>;
  /** The `__metadata__` map (empty when absent). */
  metadata: Record<string, string>;
}

/** A tensor to write: dtype, shape and either raw bytes or a typed array of matching type. */
export interface SafetensorsInput {
  /** Element type. */
  dtype: SafetensorsDtype;
  /** Dimensions. */
  shape: readonly number[];
  /** Raw little-endian bytes (`Uint8Array`) or the values as a typed array (its bytes are used). */
  data: ArrayBufferView;
}

function isDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(SAFETENSORS_DTYPES, value);
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((product, dim) => product * dim, 1);
}

/**
 * Parse safetensors bytes. Throws {@link SafetensorsError} (code `VLM_SAFETENSORS_INVALID`) naming
 * the source and the problem for a truncated buffer, a bad header length, invalid JSON, an unknown
 * dtype, a size mismatch, overlapping or non-contiguous offsets, or trailing bytes.
 */
export function parseSafetensors(bytes: Uint8Array, source = '<buffer>'): SafetensorsFile {
  if (bytes.byteLength < 8) {
    throw new SafetensorsError(source, `file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_SAFETENSORS_HEADER_BYTES)) {
    throw new SafetensorsError(source, `header length ${headerLength} exceeds the ${MAX_SAFETENSORS_HEADER_BYTES}-byte limit`);
  }
  const n = Number(headerLength);
  if (8 + n > bytes.byteLength) {
    throw new SafetensorsError(source, `header length ${n} runs past the end of the ${bytes.byteLength}-byte file`);
  }
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (error) {
    throw new SafetensorsError(source, `header is not valid UTF-8 JSON (${(error as Error).message})`, { cause: error });
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new SafetensorsError(source, 'header must be a JSON object');
  }
  const dataStart = 8 + n;
  const dataLength = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new SafetensorsError(source, '__metadata__ must be an object of strings');
      }
      for (const [key, text] of Object.entries(value as Record<string, unknown>)) {
        if (typeof text !== 'string') throw new SafetensorsError(source, `__metadata__.${key} must be a string`);
        metadata[key] = text;
      }
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof info !== 'object' || info === null) throw new SafetensorsError(source, `tensor "${name}": entry must be an object`);
    if (!isDtype(info.dtype)) {
      throw new SafetensorsError(source, `tensor "${name}": unsupported dtype ${JSON.stringify(info.dtype)}`);
    }
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0)) {
      throw new SafetensorsError(source, `tensor "${name}": shape must be an array of non-negative integers`);
    }
    const offsets = info.data_offsets;
    if (
      !Array.isArray(offsets) ||
      offsets.length !== 2 ||
      !offsets.every((offset) => Number.isSafeInteger(offset) && offset >= 0) ||
      offsets[1] < offsets[0]
    ) {
      throw new SafetensorsError(source, `tensor "${name}": data_offsets must be [begin, end] with 0 ≤ begin ≤ end`);
    }
    const expected = elementCount(shape as number[]) * SAFETENSORS_DTYPES[info.dtype];
    if (offsets[1] - offsets[0] !== expected) {
      throw new SafetensorsError(
        source,
        `tensor "${name}": ${info.dtype}${JSON.stringify(shape)} needs ${expected} bytes, data_offsets span ${offsets[1] - offsets[0]}`,
      );
    }
    entries.push({ name, dtype: info.dtype, shape: shape as number[], begin: offsets[0], end: offsets[1] });
  }
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const entry of sorted) {
    if (entry.begin !== cursor) {
      throw new SafetensorsError(
        source,
        `tensor "${entry.name}": data_offsets start at ${entry.begin}, expected ${cursor} (tensors must be contiguous, without gaps or overlaps)`,
      );
    }
    cursor = entry.end;
  }
  if (cursor !== dataLength) {
    throw new SafetensorsError(source, `tensors cover ${cursor} data bytes but the file holds ${dataLength} after the header`);
  }
  const tensors = new Map<string, SafetensorsTensor>();
  for (const entry of entries) {
    tensors.set(entry.name, {
      dtype: entry.dtype,
      shape: entry.shape,
      data: bytes.subarray(dataStart + entry.begin, dataStart + entry.end),
    });
  }
  return { tensors, metadata };
}

/**
 * Serialise tensors (and optional `__metadata__`) to safetensors bytes. The layout is the
 * reference writer's: sorted by dtype alignment (descending) then name, header space-padded to a
 * multiple of 8. Throws {@link SafetensorsError} when a tensor's byte size does not match its
 * dtype and shape.
 */
export function serializeSafetensors(
  tensors: Record<string, SafetensorsInput> | Map<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  const list = [...(tensors instanceof Map ? tensors.entries() : Object.entries(tensors))];
  for (const [name, tensor] of list) {
    if (name === '__metadata__') throw new SafetensorsError('<writer>', 'a tensor may not be named "__metadata__"');
    if (!isDtype(tensor.dtype)) throw new SafetensorsError('<writer>', `tensor "${name}": unsupported dtype ${String(tensor.dtype)}`);
    const expected = elementCount(tensor.shape) * SAFETENSORS_DTYPES[tensor.dtype];
    if (tensor.data.byteLength !== expected) {
      throw new SafetensorsError(
        '<writer>',
        `tensor "${name}": ${tensor.dtype}${JSON.stringify(tensor.shape)} needs ${expected} bytes, received ${tensor.data.byteLength}`,
      );
    }
  }
  list.sort(([nameA, a], [nameB, b]) => {
    const alignment = SAFETENSORS_DTYPES[b.dtype] - SAFETENSORS_DTYPES[a.dtype];
    return alignment !== 0 ? alignment : nameA < nameB ? -1 : nameA > nameB ? 1 : 0;
  });
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, tensor] of list) {
    header[name] = { dtype: tensor.dtype, shape: [...tensor.shape], data_offsets: [offset, offset + tensor.data.byteLength] };
    offset += tensor.data.byteLength;
  }
  let headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(headerBytes.byteLength / 8) * 8;
  if (padded !== headerBytes.byteLength) {
    const withPadding = new Uint8Array(padded).fill(0x20);
    withPadding.set(headerBytes);
    headerBytes = withPadding;
  }
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let cursor = 8 + headerBytes.byteLength;
  for (const [, tensor] of list) {
    out.set(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength), cursor);
    cursor += tensor.data.byteLength;
  }
  return out;
}

/** Read and parse a safetensors file. */
export async function readSafetensorsFile(path: string): Promise<SafetensorsFile> {
  const bytes = await readFile(path);
  return parseSafetensors(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
}

/** Serialise and write a safetensors file atomically (temp file + rename). */
export async function writeSafetensorsFile(
  path: string,
  tensors: Record<string, SafetensorsInput> | Map<string, SafetensorsInput>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

/** Convert IEEE-754 half-precision bits to a float. */
export function float16BitsToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Convert a float to IEEE-754 half-precision bits (round to nearest even). */
export function floatToFloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    let half = mantissa >> shift;
    const remainder = mantissa & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (remainder > halfway || (remainder === halfway && half & 1)) half += 1;
    return sign | half;
  }
  let half = (e << 10) | (mantissa >> 13);
  const remainder = mantissa & 0x1fff;
  if (remainder > 0x1000 || (remainder === 0x1000 && half & 1)) half += 1;
  return sign | half;
}

/** Convert a float to bfloat16 bits (round to nearest even; NaN kept quiet). */
export function floatToBfloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0]!;
  if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) return ((x >>> 16) | 0x40) & 0xffff;
  const rounded = x + 0x7fff + ((x >>> 16) & 1);
  return (rounded >>> 16) & 0xffff;
}

function aligned<T>(data: Uint8Array, size: number, make: (buffer: ArrayBufferLike, offset: number, length: number) => T): T {
  const source = data.byteOffset % size === 0 ? data : data.slice();
  return make(source.buffer, source.byteOffset, source.byteLength / size);
}

/**
 * The tensor's values as float32 (a fresh array): F32 copied, F16 and BF16 widened, F64 and integer
 * types converted. Throws {@link SafetensorsError} for dtypes with no float meaning here (F8, C64).
 */
export function tensorToFloat32(tensor: SafetensorsTensor, name = '<tensor>'): Float32Array {
  const { data } = tensor;
  switch (tensor.dtype) {
    case 'F32':
      return aligned(data, 4, (b, o, l) => new Float32Array(b, o, l)).slice();
    case 'F16': {
      const bits = aligned(data, 2, (b, o, l) => new Uint16Array(b, o, l));
      const out = new Float32Array(bits.length);
      for (let i = 0; i < bits.length; i += 1) out[i] = float16BitsToFloat(bits[i]!);
      return out;
    }
    case 'BF16': {
      const bits = aligned(data, 2, (b, o, l) => new Uint16Array(b, o, l));
      const words = new Uint32Array(bits.length);
      for (let i = 0; i < bits.length; i += 1) words[i] = bits[i]! << 16;
      return new Float32Array(words.buffer);
    }
    case 'F64':
      return Float32Array.from(aligned(data, 8, (b, o, l) => new Float64Array(b, o, l)));
    case 'I64':
      return Float32Array.from(aligned(data, 8, (b, o, l) => new BigInt64Array(b, o, l)), Number);
    case 'U64':
      return Float32Array.from(aligned(data, 8, (b, o, l) => new BigUint64Array(b, o, l)), Number);
    case 'I32':
      return Float32Array.from(aligned(data, 4, (b, o, l) => new Int32Array(b, o, l)));
    case 'U32':
      return Float32Array.from(aligned(data, 4, (b, o, l) => new Uint32Array(b, o, l)));
    case 'I16':
      return Float32Array.from(aligned(data, 2, (b, o, l) => new Int16Array(b, o, l)));
    case 'U16':
      return Float32Array.from(aligned(data, 2, (b, o, l) => new Uint16Array(b, o, l)));
    case 'I8':
      return Float32Array.from(new Int8Array(data.buffer, data.byteOffset, data.byteLength));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(data);
    default:
      throw new SafetensorsError(name, `dtype ${tensor.dtype} cannot be converted to float32`);
  }
}

/** Encode float32 values as a safetensors tensor of dtype F32, F16 or BF16. */
export function float32ToTensor(values: Float32Array, shape: readonly number[], dtype: 'F32' | 'F16' | 'BF16' = 'F32'): SafetensorsInput {
  if (dtype === 'F32') return { dtype, shape, data: values };
  const bits = new Uint16Array(values.length);
  const convert = dtype === 'F16' ? floatToFloat16Bits : floatToBfloat16Bits;
  for (let i = 0; i < values.length; i += 1) bits[i] = convert(values[i]!);
  return { dtype, shape, data: bits };
}
