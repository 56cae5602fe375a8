/**
 * tools/device/bundle-cuda-provider.sh on small fake npm tarballs (no download): the provider is
 * compressed and cut into parts of at most --part-bytes, one folder each, with their sha256 sums;
 * the core archive holds only onnxruntime-node/-common's package.json, dist JS and Linux x64
 * binaries; the written activate-cuda.sh joins the parts back into the very same provider, swaps
 * onnxruntime-node/-common in a fake /tmp/devnode (VLM_GRPO_DEVNODE) and finds the CUDA libraries in
 * a fake site-packages (VLM_GRPO_PYTHON_SITE), and it refuses, naming the part, when a part is
 * missing or damaged. Also prune-fatbin.mjs on a synthetic ELF file with two fat binaries.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { findElfSection, pruneFatbin } from './prune-fatbin.mjs';

const script = fileURLToPath(new URL('./bundle-cuda-provider.sh', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'vlm-grpo-cuda-bundle-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const PART_BYTES = 100_000;
const provider = randomBytes(300_000); // incompressible: xz adds a little, so 4 parts

/** Write `files` (path → content) under `dir/package` and pack them as npm does, into `tgz`. */
function npmTarball(tgz, files) {
  const dir = mkdtempSync(join(scratch, 'pkg-'));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(dir, 'package', path, '..'), { recursive: true });
    writeFileSync(join(dir, 'package', path), content);
  }
  const run = spawnSync('tar', ['-czf', tgz, '-C', dir, 'package']);
  if (run.status !== 0) throw new Error(`tar: ${run.stderr}`);
}

/** Run bash `source activate-cuda.sh args` in a fresh shell with the test's environment. */
function activate(out, env, args = '') {
  return spawnSync('bash', ['-c', `source "${join(out, 'core', 'activate-cuda.sh')}" ${args}; rc=$?; echo "LD=$LD_LIBRARY_PATH"; exit $rc`], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
}

describe('tools/device/bundle-cuda-provider.sh', () => {
  const tarballs = join(scratch, 'tgz');
  const out = join(scratch, 'out');
  let bundle;
  beforeAll(() => {
    mkdirSync(tarballs);
    npmTarball(join(tarballs, 'onnxruntime-node-1.29.0.tgz'), {
      'package.json': JSON.stringify({ name: 'onnxruntime-node', version: '1.29.0', main: 'dist/index.js' }, null, 2),
      'dist/index.js': "module.exports = require('onnxruntime-common');\n",
      'dist/index.js.map': '{}',
      'dist/index.d.ts': 'export {};',
      'lib/index.ts': 'export {};',
      'bin/napi-v6/linux/x64/onnxruntime_binding.node': 'binding',
      'bin/napi-v6/linux/x64/libonnxruntime.so.1': 'libonnxruntime',
      'bin/napi-v6/linux/arm64/libonnxruntime.so.1': 'arm64',
      'bin/napi-v6/win32/x64/onnxruntime.dll': 'dll',
    });
    npmTarball(join(tarballs, 'onnxruntime-common-1.29.0.tgz'), {
      'package.json': JSON.stringify({ name: 'onnxruntime-common', version: '1.29.0' }),
      'dist/cjs/index.js': 'exports.common = 1;\n',
    });
    npmTarball(join(tarballs, 'com.github.asus4.onnxruntime.linux-x64-gpu-0.4.9.tgz'), {
      'Plugins/Linux/x64/libonnxruntime_providers_cuda.so': provider,
      'Plugins/Linux/x64/libonnxruntime_providers_shared.so': 'shared',
      'Plugins/Linux/x64/libonnxruntime_providers_tensorrt.so': 'tensorrt',
    });
    bundle = spawnSync('bash', [script, out, '--tarballs', tarballs, '--part-bytes', String(PART_BYTES)], { cwd: root, encoding: 'utf8' });
  }, 60_000);

  it('cuts the compressed provider into parts of at most --part-bytes, one folder each, with their sha256 sums', () => {
    expect(bundle.status, bundle.stderr).toBe(0);
    const parts = readdirSync(out).filter((name) => name.startsWith('part-')).sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
    expect(parts).toEqual(['part-1', 'part-2', 'part-3', 'part-4']);
    const sizes = parts.map((part) => statSync(join(out, part, `cuda-provider.so.xz.${part.slice(5)}`)).size);
    for (const size of sizes.slice(0, -1)) expect(size).toBe(PART_BYTES);
    expect(sizes.at(-1)).toBeGreaterThan(0);
    expect(sizes.at(-1)).toBeLessThanOrEqual(PART_BYTES);
    const sums = readFileSync(join(out, 'core', 'SHA256SUMS'), 'utf8').trim().split('\n');
    expect(sums.map((line) => line.split(/\s+/u)[1])).toEqual(parts.map((part) => `${part}/cuda-provider.so.xz.${part.slice(5)}`));
    expect(readFileSync(join(out, 'core', 'manifest.txt'), 'utf8')).toContain('parts 4 of at most 100000 bytes');
    expect(bundle.stdout).toMatch(/provider: 0\.3 MB → xz 0\.3 MB in 4 part\(s\)/u);
    expect(bundle.stdout).toMatch(/device calls to carry it all, back to back .*: \d+/u);
  });

  it('packs onnxruntime-node/-common 1.29 with the Linux x64 binaries only, and the shared provider bridge', () => {
    const list = spawnSync('tar', ['-tJf', join(out, 'core', 'ort129.tar.xz')], { encoding: 'utf8' }).stdout.trim().split('\n').filter((p) => !p.endsWith('/')).sort();
    expect(list).toEqual([
      'libonnxruntime_providers_shared.so',
      'node_modules/onnxruntime-common/dist/cjs/index.js',
      'node_modules/onnxruntime-common/package.json',
      'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1',
      'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
      'node_modules/onnxruntime-node/dist/index.js',
      'node_modules/onnxruntime-node/package.json',
    ]);
  });

  it('activate-cuda.sh joins the parts into the same provider, swaps onnxruntime-node and finds the CUDA libraries', () => {
    const devnode = join(scratch, 'devnode');
    const site = join(scratch, 'site');
    const driver = join(scratch, 'driver');
    for (const name of ['onnxruntime-node', 'onnxruntime-common']) {
      mkdirSync(join(devnode, 'node_modules', name), { recursive: true });
      writeFileSync(join(devnode, 'node_modules', name, 'package.json'), JSON.stringify({ name, version: '1.30.0' }));
    }
    mkdirSync(join(site, 'nvidia', 'cu13', 'lib'), { recursive: true });
    for (const lib of ['libcublas.so.13', 'libcublasLt.so.13', 'libcurand.so.10', 'libcudart.so.13']) writeFileSync(join(site, 'nvidia', 'cu13', 'lib', lib), '');
    mkdirSync(join(site, 'nvidia', 'cudnn', 'lib'), { recursive: true });
    writeFileSync(join(site, 'nvidia', 'cudnn', 'lib', 'libcudnn.so.9'), '');
    mkdirSync(driver);
    writeFileSync(join(driver, 'libcuda.so.1'), '');
    const dest = join(scratch, 'ort-cuda');
    const env = { VLM_GRPO_DEVNODE: devnode, VLM_GRPO_ORT_CUDA_DIR: dest, VLM_GRPO_PYTHON_SITE: site, LD_LIBRARY_PATH: driver };
    const run = activate(out, env);
    expect(run.status, run.stderr).toBe(0);
    const bin = join(dest, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', 'linux', 'x64');
    expect(readFileSync(join(bin, 'libonnxruntime_providers_cuda.so')).equals(provider)).toBe(true);
    expect(readFileSync(join(bin, 'libonnxruntime_providers_shared.so'), 'utf8')).toBe('shared');
    expect(lstatSync(join(devnode, 'node_modules', 'onnxruntime-node')).isSymbolicLink()).toBe(true);
    expect(JSON.parse(readFileSync(join(devnode, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version).toBe('1.29.0');
    expect(JSON.parse(readFileSync(join(devnode, 'ort-1.30', 'onnxruntime-node', 'package.json'), 'utf8')).version).toBe('1.30.0');
    expect(run.stdout).toContain(`libcudnn.so.9 (cuDNN 9, for Conv) in ${join(site, 'nvidia', 'cudnn', 'lib')}`);
    expect(run.stdout).toContain(`LD=${join(site, 'nvidia', 'cu13', 'lib')}:${join(site, 'nvidia', 'cudnn', 'lib')}:${driver}`);
    // sourced again: nothing to unpack, the same result; --restore puts 1.30 back
    expect(activate(out, env).status).toBe(0);
    const restore = activate(out, env, '--restore');
    expect(restore.status, restore.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(devnode, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version).toBe('1.30.0');
    // a library that is not there is named
    rmSync(join(site, 'nvidia', 'cu13', 'lib', 'libcurand.so.10'));
    const noCurand = activate(out, { ...env, VLM_GRPO_ORT_CUDA_DIR: join(scratch, 'ort-cuda-2') });
    expect(noCurand.status).toBe(1);
    expect(noCurand.stderr).toMatch(/not found .*libcurand\.so\.10 \(cuRAND\)/u);
  });

  it('activate-cuda.sh names a missing part and a damaged part, and unpacks nothing', () => {
    const copy = join(scratch, 'copy', '.device-cuda');
    cpSync(out, copy, { recursive: true });
    rmSync(join(copy, 'part-3'), { recursive: true });
    const devnode = join(scratch, 'devnode-2');
    mkdirSync(join(devnode, 'node_modules', 'onnxruntime-node'), { recursive: true });
    const dest = join(scratch, 'ort-cuda-missing');
    const env = { VLM_GRPO_DEVNODE: devnode, VLM_GRPO_ORT_CUDA_DIR: dest };
    const missing = activate(copy, env);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`missing part-3 of 4 parts (expected ${join(copy, 'part-3')}`);
    expect(missing.stderr).toContain('carry .device-cuda/part-3 in a call');
    expect(existsSync(dest)).toBe(false);
    cpSync(join(out, 'part-3'), join(copy, 'part-3'), { recursive: true });
    const damaged = join(copy, 'part-2', 'cuda-provider.so.xz.2');
    const bytes = readFileSync(damaged);
    bytes[10] ^= 0xff;
    writeFileSync(damaged, bytes);
    const broken = activate(copy, env);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toContain('damaged part(s): part-2/cuda-provider.so.xz.2');
    expect(existsSync(join(dest, '.complete'))).toBe(false);
  });

  it('says which tarball is missing, and rejects a PART_MB that is not a whole number', () => {
    const empty = mkdtempSync(join(scratch, 'empty-'));
    const run = spawnSync('bash', [script, join(scratch, 'never'), '--tarballs', empty], { cwd: root, encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(`${empty}/onnxruntime-node-1.29.0.tgz is missing`);
    const bad = spawnSync('bash', [script, join(scratch, 'never'), '1.5'], { cwd: root, encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("PART_MB must be a whole number of MiB, got '1.5'");
  });
});

/**
 * A little ELF64 file: section headers null, .shstrtab, .nv_fatbin; the fat binaries hold, per
 * `fatbins` entry, cubins of the given architectures (payload filled with 0xAA) and, for 'ptx',
 * a PTX entry (kind 1, payload 0xBB). Returns the buffer and each entry's payload offset.
 */
function syntheticElf(fatbins) {
  const chunks = [];
  const payloads = [];
  let at = 0;
  for (const archs of fatbins) {
    const entries = archs.map((arch) => {
      const header = Buffer.alloc(64);
      header.writeUInt16LE(arch === 'ptx' ? 1 : 2, 0);
      header.writeUInt32LE(64, 4);
      header.writeBigUInt64LE(32n, 8);
      header.writeUInt32LE(arch === 'ptx' ? 90 : arch, 28);
      return { arch, bytes: Buffer.concat([header, Buffer.alloc(32, arch === 'ptx' ? 0xbb : 0xaa)]) };
    });
    const body = Buffer.concat(entries.map((e) => e.bytes));
    const head = Buffer.alloc(16);
    head.writeUInt32LE(0xba55ed50, 0);
    head.writeUInt16LE(1, 4);
    head.writeUInt16LE(16, 6);
    head.writeBigUInt64LE(BigInt(body.length), 8);
    let offset = at + 16;
    for (const e of entries) {
      payloads.push({ arch: e.arch, offset: offset + 64 });
      offset += e.bytes.length;
    }
    chunks.push(head, body, Buffer.alloc(8)); // 8 bytes of padding between fat binaries
    at += 16 + body.length + 8;
  }
  const fatbin = Buffer.concat(chunks);
  const names = Buffer.from('\0.shstrtab\0.nv_fatbin\0', 'latin1');
  const fatbinOffset = 64;
  const namesOffset = fatbinOffset + fatbin.length;
  const shoff = namesOffset + names.length;
  const header = Buffer.alloc(64);
  header.writeUInt32BE(0x7f454c46, 0);
  header[4] = 2;
  header[5] = 1;
  header.writeBigUInt64LE(BigInt(shoff), 0x28);
  header.writeUInt16LE(64, 0x3a);
  header.writeUInt16LE(3, 0x3c);
  header.writeUInt16LE(1, 0x3e);
  const section = (name, offset, size) => {
    const s = Buffer.alloc(64);
    s.writeUInt32LE(name, 0);
    s.writeBigUInt64LE(BigInt(offset), 0x18);
    s.writeBigUInt64LE(BigInt(size), 0x20);
    return s;
  };
  const buffer = Buffer.concat([header, fatbin, names, section(0, 0, 0), section(1, namesOffset, names.length), section(11, fatbinOffset, fatbin.length)]);
  return { buffer, payloads: payloads.map((p) => ({ ...p, offset: p.offset + fatbinOffset })) };
}

describe('tools/device/prune-fatbin.mjs', () => {
  it('zeroes the cubins of other architectures, keeps the chosen ones, PTX and every header', () => {
    const { buffer, payloads } = syntheticElf([[80, 90, 120], [80, 90, 'ptx'], [120]]);
    const before = Buffer.from(buffer);
    const report = pruneFatbin(buffer, ['90']);
    expect(report.fatbins).toBe(3);
    expect(report.withoutKept).toEqual([2]);
    expect(report.byArch.sm_80).toEqual({ kept: 0, keptBytes: 0, zeroed: 2, zeroedBytes: 64 });
    expect(report.byArch.sm_90).toEqual({ kept: 3, keptBytes: 96, zeroed: 0, zeroedBytes: 0 }); // two cubins and the PTX (sm 90)
    for (const { arch, offset } of payloads) {
      const payload = buffer.subarray(offset, offset + 32);
      if (arch === 90 || arch === 'ptx') expect(payload.equals(before.subarray(offset, offset + 32))).toBe(true);
      else expect(payload.every((byte) => byte === 0)).toBe(true);
    }
    // only payload bytes changed
    const changed = [...buffer.keys()].filter((i) => buffer[i] !== before[i]);
    const zeroed = payloads.filter((p) => p.arch !== 90 && p.arch !== 'ptx');
    expect(changed.every((i) => zeroed.some((p) => i >= p.offset && i < p.offset + 32))).toBe(true);
    expect(findElfSection(buffer, '.nv_fatbin').size).toBeGreaterThan(0);
  });

  it('says what is wrong with a file that is not an ELF library with CUDA kernels', () => {
    expect(() => pruneFatbin(Buffer.from('not an elf file at all, but long enough to hold an ELF header of sixty-four bytes'), ['90'], 'x.so')).toThrow('x.so: not an ELF file');
    const { buffer } = syntheticElf([[80]]);
    expect(() => pruneFatbin(buffer, [], 'y.so')).toThrow('keep-sm: expected architectures like 90');
    buffer.write('.nv_fatbiX', buffer.indexOf('.nv_fatbin'), 'latin1');
    expect(() => pruneFatbin(buffer, ['90'], 'y.so')).toThrow('y.so: no .nv_fatbin section');
  });
});
