/**
 * File names that a model folder names itself (shards of `model.safetensors.index.json`, the
 * component folders of `model_index.json`, ONNX external-data `location`s) are untrusted input:
 * a downloaded index can say `../../.bashrc`. Every such name goes through
 * {@link safeModelFilePath} before it is joined to a folder, on download and on local load:
 *
 * - rejected: empty names, NUL, backslashes, absolute paths (`/x`, `C:\x`, `C:/x`), `..` segments,
 *   empty segments (`a//b`) and `.`-only names;
 * - when the file exists, its real path (symlinks resolved) must lie inside the allowed root, which
 *   is the model folder itself, or for the Hugging Face cache the repository's `models--org--name`
 *   folder (its snapshots are symlinks into the sibling `blobs/`).
 *
 * {@link onnxExternalDataLocations} lists the external-data files an ONNX model refers to, reading
 * only the protobuf's structure (tags and lengths) with positional reads, so a 2 GB model is never
 * loaded for the check.
 */
import { open, realpath } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, sep } from 'node:path';

import { DataError } from './errors.js';

/** Check a relative file name taken from a model index; returns it with `/` separators. */
export function checkModelFileName(name: unknown, what: string): string {
  const fail = (reason: string): never => {
    throw new DataError('DATA_UNSAFE_PATH', `${what}: file name ${JSON.stringify(name)} ${reason}; expected a relative path inside the model folder`);
  };
  if (typeof name !== 'string' || name.length === 0) return fail('is not a non-empty string');
  if (name.includes('\0')) return fail('contains a NUL character');
  if (name.includes('\\')) return fail('contains a backslash');
  if (isAbsolute(name) || /^[A-Za-z]:/u.test(name)) return fail('is absolute');
  const segments = name.split('/');
  if (segments.some((segment) => segment === '..')) return fail('escapes the model folder (..)');
  if (segments.some((segment, index) => segment === '' && index !== segments.length - 1)) return fail('has an empty path segment');
  if (segments.every((segment) => segment === '.' || segment === '')) return fail('names no file');
  return segments.filter((segment) => segment !== '.' && segment !== '').join('/');
}

async function realOrUndefined(path: string): Promise<string | undefined> {
  try {
    return await realpath(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

const inside = (root: string, target: string): boolean => {
  const rel = relative(root, target);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
};

/**
 * Join a model-index file name to `folder`, rejecting names that escape it.
 * @param folder the folder the name is relative to (e.g. the model folder, or `unet/`).
 * @param name the untrusted name.
 * @param what what names it, for the error (e.g. `model.safetensors.index.json`).
 * @param allowedRoot the folder the real path must stay in (default: `folder`).
 * @throws DataError `DATA_UNSAFE_PATH` naming `what` and the name.
 */
export async function safeModelFilePath(folder: string, name: unknown, what: string, allowedRoot: string = folder): Promise<string> {
  const clean = checkModelFileName(name, what);
  const joined = join(folder, clean);
  const real = await realOrUndefined(joined);
  if (real !== undefined) {
    const root = (await realOrUndefined(allowedRoot)) ?? allowedRoot;
    if (!inside(root, real)) {
      throw new DataError('DATA_UNSAFE_PATH', `${what}: ${JSON.stringify(clean)} resolves to ${real}, outside the model folder ${root} (a symbolic link?)`);
    }
  }
  return joined;
}

/** Positional protobuf reader over an open file: only the bytes of tags and lengths are read. */
class ProtoFile {
  private cacheStart = -1;
  private cache = Buffer.alloc(0);

  constructor(private readonly handle: Awaited<ReturnType<typeof open>>, readonly size: number) {}

  private async byteAt(position: number): Promise<number> {
    if (position < this.cacheStart || position >= this.cacheStart + this.cache.length) {
      const buffer = Buffer.alloc(Math.min(65536, this.size - position));
      const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, position);
      this.cache = buffer.subarray(0, bytesRead);
      this.cacheStart = position;
      if (bytesRead === 0) throw new Error(`truncated at byte ${position}`);
    }
    return this.cache[position - this.cacheStart]!;
  }

  async varint(position: number): Promise<[number, number]> {
    let value = 0;
    let scale = 1;
    for (let index = 0; index < 10; index++) {
      const byte = await this.byteAt(position + index);
      value += (byte & 0x7f) * scale;
      scale *= 128;
      if ((byte & 0x80) === 0) return [value, position + index + 1];
    }
    throw new Error(`bad varint at byte ${position}`);
  }

  async bytes(position: number, length: number): Promise<Buffer> {
    const buffer = Buffer.alloc(length);
    const { bytesRead } = await this.handle.read(buffer, 0, length, position);
    if (bytesRead !== length) throw new Error(`truncated at byte ${position}`);
    return buffer;
  }

  /** Fields of the message in [start, end): `[field number, wire type, value start, value end]`. */
  async *fields(start: number, end: number): AsyncGenerator<[number, number, number, number]> {
    let position = start;
    while (position < end) {
      const [key, afterKey] = await this.varint(position);
      const field = Math.floor(key / 8);
      const wire = key % 8;
      let valueEnd: number;
      let valueStart = afterKey;
      if (wire === 0) valueEnd = (await this.varint(afterKey))[1];
      else if (wire === 1) valueEnd = afterKey + 8;
      else if (wire === 5) valueEnd = afterKey + 4;
      else if (wire === 2) {
        const [length, afterLength] = await this.varint(afterKey);
        valueStart = afterLength;
        valueEnd = afterLength + length;
      } else throw new Error(`unsupported wire type ${wire} at byte ${position}`);
      if (valueEnd > end) throw new Error(`field ${field} at byte ${position} runs past its message`);
      yield [field, wire, valueStart, valueEnd];
      position = valueEnd;
    }
  }
}

// onnx.proto field numbers: ModelProto.graph 7; GraphProto.node 1, initializer 5, sparse_initializer 15;
// NodeProto.attribute 5; AttributeProto.t 5, g 6, tensors 10, graphs 11, sparse_tensor 22,
// sparse_tensors 23; SparseTensorProto.values 1, indices 2; TensorProto.external_data 13
// (StringStringEntryProto key 1, value 2); FunctionProto (ModelProto.functions 25).node 7.
async function scanTensor(file: ProtoFile, start: number, end: number, out: Set<string>): Promise<void> {
  for await (const [field, wire, valueStart, valueEnd] of file.fields(start, end)) {
    if (field !== 13 || wire !== 2) continue;
    let key = '';
    let value = '';
    for await (const [entryField, entryWire, s, e] of file.fields(valueStart, valueEnd)) {
      if (entryWire !== 2) continue;
      if (entryField === 1) key = (await file.bytes(s, e - s)).toString('utf8');
      if (entryField === 2) value = (await file.bytes(s, e - s)).toString('utf8');
    }
    if (key === 'location') out.add(value);
  }
}

async function scanSparse(file: ProtoFile, start: number, end: number, out: Set<string>): Promise<void> {
  for await (const [field, wire, s, e] of file.fields(start, end)) if ((field === 1 || field === 2) && wire === 2) await scanTensor(file, s, e, out);
}

async function scanNode(file: ProtoFile, start: number, end: number, out: Set<string>): Promise<void> {
  for await (const [field, wire, s, e] of file.fields(start, end)) {
    if (field !== 5 || wire !== 2) continue;
    for await (const [attributeField, attributeWire, as, ae] of file.fields(s, e)) {
      if (attributeWire !== 2) continue;
      if (attributeField === 5 || attributeField === 10) await scanTensor(file, as, ae, out);
      else if (attributeField === 6 || attributeField === 11) await scanGraph(file, as, ae, out);
      else if (attributeField === 22 || attributeField === 23) await scanSparse(file, as, ae, out);
    }
  }
}

async function scanGraph(file: ProtoFile, start: number, end: number, out: Set<string>): Promise<void> {
  for await (const [field, wire, s, e] of file.fields(start, end)) {
    if (wire !== 2) continue;
    if (field === 5) await scanTensor(file, s, e, out);
    else if (field === 15) await scanSparse(file, s, e, out);
    else if (field === 1) await scanNode(file, s, e, out);
  }
}

/**
 * The external-data file names (`location` entries) an ONNX model refers to, from its
 * initializers, node attributes and subgraphs. Reads the structure only.
 * @throws DataError `DATA_INVALID_ARGUMENT` when the file is not a readable ONNX protobuf.
 */
export async function onnxExternalDataLocations(modelPath: string): Promise<string[]> {
  const handle = await open(modelPath, 'r');
  try {
    const { size } = await handle.stat();
    const file = new ProtoFile(handle, size);
    const out = new Set<string>();
    for await (const [field, wire, s, e] of file.fields(0, size)) {
      if (wire !== 2) continue;
      if (field === 7) await scanGraph(file, s, e, out);
      else if (field === 25) {
        for await (const [functionField, functionWire, fs, fe] of file.fields(s, e)) if (functionField === 7 && functionWire === 2) await scanNode(file, fs, fe, out);
      }
    }
    return [...out];
  } catch (error) {
    if (DataError.isInstance(error)) throw error;
    throw new DataError('DATA_INVALID_ARGUMENT', `${modelPath}: not a readable ONNX model (${(error as Error).message})`, { cause: error });
  } finally {
    await handle.close();
  }
}

/**
 * Check every external-data file an ONNX model names: relative, inside `allowedRoot` (default: the
 * model's folder), real path included. Returns the resolved paths.
 * @throws DataError `DATA_UNSAFE_PATH` naming the model file and the location.
 */
export async function checkOnnxExternalData(modelPath: string, allowedRoot: string = dirname(modelPath)): Promise<string[]> {
  const locations = await onnxExternalDataLocations(modelPath);
  const resolved: string[] = [];
  for (const location of locations) resolved.push(await safeModelFilePath(dirname(modelPath), location, `${modelPath} (external data)`, allowedRoot));
  return resolved;
}
