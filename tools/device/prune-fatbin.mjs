/**
 * Zeroes, in a shared library's CUDA fat binaries (ELF section `.nv_fatbin`), the kernel images
 * (cubins) built for GPU architectures other than the ones kept, so that the file compresses to a
 * fraction of its size: ONNX Runtime 1.29's CUDA provider carries its kernels for sm_75, 80, 86,
 * 89, 90 and 120 (166 MB of its 230 MB, already compressed by nvcc, so xz cannot shrink them); an
 * H100 loads only the sm_90 images. The file keeps its size and layout (every fat binary and entry
 * header stays, only the payloads of the other architectures become zeros), so nothing that points
 * into it moves; the CUDA driver picks the image of the device's architecture and never reads the
 * others. PTX entries (kind 1) are always kept: a driver can compile them for any newer GPU.
 * A GPU whose architecture was not kept finds no kernel image (`no kernel image is available for
 * execution on the device`); use the pruned file only on the GPUs named.
 *
 *   node tools/device/prune-fatbin.mjs IN OUT --keep-sm 90[,89…]
 *
 * Prints one JSON object: kernel images and bytes kept and zeroed per architecture, and the fat
 * binaries left with no image of a kept architecture (their kernels cannot run on those GPUs; in
 * the original they could not either when no kept architecture was there).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

import { isEntryPoint } from '../bench/bench-utils.mjs';

/** The fat binary header's magic number (`0xBA55ED50`, little-endian in the file). */
const FATBIN_MAGIC = 0xba55ed50;

/**
 * Offset and size of the ELF64 section named `name` in `buffer`; throws when the buffer is not a
 * 64-bit little-endian ELF file or has no such section.
 */
export function findElfSection(buffer, name, label = 'file') {
  if (buffer.length < 64 || buffer.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${label}: not an ELF file`);
  if (buffer[4] !== 2 || buffer[5] !== 1) throw new Error(`${label}: not a 64-bit little-endian ELF file`);
  const shoff = Number(buffer.readBigUInt64LE(0x28));
  const shentsize = buffer.readUInt16LE(0x3a);
  const shnum = buffer.readUInt16LE(0x3c);
  const shstrndx = buffer.readUInt16LE(0x3e);
  if (shoff + shnum * shentsize > buffer.length) throw new Error(`${label}: section headers past the end of the file (truncated?)`);
  const header = (index) => {
    const base = shoff + index * shentsize;
    return { name: buffer.readUInt32LE(base), offset: Number(buffer.readBigUInt64LE(base + 0x18)), size: Number(buffer.readBigUInt64LE(base + 0x20)) };
  };
  const strings = header(shstrndx);
  for (let index = 0; index < shnum; index++) {
    const section = header(index);
    const start = strings.offset + section.name;
    const end = buffer.indexOf(0, start);
    if (buffer.toString('latin1', start, end) === name) {
      if (section.offset + section.size > buffer.length) throw new Error(`${label}: section ${name} runs past the end of the file (truncated?)`);
      return { offset: section.offset, size: section.size };
    }
  }
  throw new Error(`${label}: no ${name} section (not a library with CUDA kernels?)`);
}

/**
 * Zero, in place, the cubin payloads of `buffer`'s `.nv_fatbin` section whose architecture
 * (`sm_XY` as the number XY) is not in `keepSm`; see the file header. Returns per architecture the
 * images and bytes kept and zeroed, how many fat binaries were walked and which of them (index in
 * the section) have no image of a kept architecture.
 */
export function pruneFatbin(buffer, keepSm, label = 'file') {
  const keep = new Set(keepSm.map(Number));
  if (keep.size === 0 || [...keep].some((sm) => !Number.isInteger(sm) || sm <= 0)) throw new Error(`keep-sm: expected architectures like 90 or 80,90, got ${JSON.stringify(keepSm)}`);
  const section = findElfSection(buffer, '.nv_fatbin', label);
  const end = section.offset + section.size;
  const byArch = {};
  const count = (sm, what, bytes) => {
    const key = `sm_${sm}`;
    byArch[key] ??= { kept: 0, keptBytes: 0, zeroed: 0, zeroedBytes: 0 };
    byArch[key][what] += 1;
    byArch[key][`${what}Bytes`] += bytes;
  };
  let fatbins = 0;
  const withoutKept = [];
  // fat binaries follow each other at 8-byte alignment; anything else between them is padding
  for (let at = section.offset; at + 16 <= end; ) {
    if (buffer.readUInt32LE(at) !== FATBIN_MAGIC) {
      at += 8;
      continue;
    }
    const headerSize = buffer.readUInt16LE(at + 6);
    const fatSize = Number(buffer.readBigUInt64LE(at + 8));
    const stop = at + headerSize + fatSize;
    if (stop > end) throw new Error(`${label}: fat binary at offset ${at} runs past the end of .nv_fatbin (${stop} > ${end})`);
    let hasKept = false;
    let hasCubin = false;
    for (let entry = at + headerSize; entry < stop; ) {
      const kind = buffer.readUInt16LE(entry);
      const entryHeader = buffer.readUInt32LE(entry + 4);
      const payload = Number(buffer.readBigUInt64LE(entry + 8));
      const sm = buffer.readUInt32LE(entry + 28);
      if ((kind !== 1 && kind !== 2) || entryHeader < 32 || entry + entryHeader + payload > stop) {
        throw new Error(`${label}: unexpected fat binary entry at offset ${entry} (kind ${kind}, header ${entryHeader} bytes, payload ${payload} bytes)`);
      }
      if (kind === 1 || keep.has(sm)) {
        count(sm, 'kept', payload);
        hasKept = true;
      } else {
        buffer.fill(0, entry + entryHeader, entry + entryHeader + payload);
        count(sm, 'zeroed', payload);
      }
      hasCubin ||= kind === 2;
      entry += entryHeader + payload;
    }
    if (hasCubin && !hasKept) withoutKept.push(fatbins);
    fatbins += 1;
    at = stop;
  }
  if (fatbins === 0) throw new Error(`${label}: .nv_fatbin holds no fat binary (magic 0x${FATBIN_MAGIC.toString(16)} not found)`);
  return { keepSm: [...keep], fatbins, withoutKept, byArch };
}

if (isEntryPoint(import.meta.url)) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { 'keep-sm': { type: 'string' } } });
  if (positionals.length !== 2 || !values['keep-sm']) {
    console.error('usage: node tools/device/prune-fatbin.mjs IN OUT --keep-sm 90[,89…]');
    process.exit(2);
  }
  const [input, output] = positionals;
  const buffer = readFileSync(input);
  const report = pruneFatbin(buffer, values['keep-sm'].split(','), input);
  writeFileSync(output, buffer);
  console.log(JSON.stringify(report));
}
