/**
 * ONNX Runtime's CUDA execution provider from Node.js: is it installed, can its libraries load,
 * and what a failure means, without asking ONNX Runtime (whose failed provider load prints a red
 * `[E:onnxruntime:…]` line from native code).
 *
 * onnxruntime-node ships the CUDA provider for Linux x64 only, and not inside the npm package: its
 * install step downloads `libonnxruntime_providers_cuda.so` and `libonnxruntime_providers_shared.so`
 * from NuGet into `bin/napi-v6/linux/x64/` (flag `--onnxruntime-node-install=cuda12|skip`, or the
 * environment variable `ONNXRUNTIME_NODE_INSTALL`). The provider then needs CUDA 12's cuBLAS,
 * cuBLASLt, cuRAND, cuFFT and runtime, and cuDNN 9, on the dynamic loader's path. This module reads
 * the provider's `DT_NEEDED` entries from its ELF header and looks each one up the way the loader
 * would (`LD_LIBRARY_PATH`, the provider's folder, the `ldconfig` cache, the default folders), so a
 * missing library is named before any session is created.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** What {@link cudaProviderStatus} found. */
export interface CudaProviderStatus {
  /** The provider libraries are present in onnxruntime-node's folder. */
  installed: boolean;
  /** Installed and every library it needs was found (ONNX Runtime may still fail: no GPU, old driver). */
  ready: boolean;
  /** Path of `libonnxruntime_providers_cuda.so` when installed. */
  providerPath?: string;
  /** Libraries the provider needs that the loader would not find. */
  missingLibraries: string[];
  /** One sentence: why it is not ready, or where it is. */
  reason: string;
}

/** Options of {@link cudaProviderStatus}; everything is injectable for tests. */
export interface CudaProviderOptions {
  /** onnxruntime-node's package folder (default: resolved from `resolveFrom`). */
  ortPackageDir?: string;
  /** Where to resolve onnxruntime-node from (default: this package, then the working directory). */
  resolveFrom?: readonly string[];
  /** Platform (default: `process.platform`). */
  platform?: string;
  /** Architecture (default: `process.arch`). */
  arch?: string;
  /** True when a library of this file name would be found by the loader (default: see the file header). */
  libraryExists?: (name: string, providerDir: string) => boolean;
  /** `DT_NEEDED` of a shared library (default: {@link readElfNeeded}). */
  readNeeded?: (path: string) => string[];
  /** True when a file exists (default: `fs.existsSync`). */
  fileExists?: (path: string) => boolean;
}

/**
 * How a user installs the CUDA provider into onnxruntime-node's folder `ortDir` (one line, used in
 * messages). The install script is run directly: `npm rebuild` skips it where the project's
 * `allowScripts` denies it.
 */
export function cudaInstallHint(ortDir = 'node_modules/onnxruntime-node'): string {
  return `install it with \`ONNXRUNTIME_NODE_INSTALL=cuda12 node ${join(ortDir, 'script', 'install.js')}\` (downloads from api.nuget.org; needs CUDA 12 and cuDNN 9 libraries on the library path)`;
}

/** What the CUDA provider's usual dependencies are, for messages. */
const LIBRARY_ROLES: readonly [RegExp, string][] = [
  [/^libcublasLt\.so/u, 'cuBLASLt (CUDA toolkit / nvidia-cublas)'],
  [/^libcublas\.so/u, 'cuBLAS (CUDA toolkit / nvidia-cublas)'],
  [/^libcudnn/u, 'cuDNN 9 (nvidia-cudnn)'],
  [/^libcudart\.so/u, 'the CUDA runtime (CUDA toolkit / nvidia-cuda-runtime)'],
  [/^libcurand\.so/u, 'cuRAND (CUDA toolkit / nvidia-curand)'],
  [/^libcufft\.so/u, 'cuFFT (CUDA toolkit / nvidia-cufft)'],
  [/^libcuda\.so/u, 'the NVIDIA driver'],
  [/^libnvinfer/u, 'TensorRT'],
  [/^libonnxruntime_providers_shared\.so/u, "ONNX Runtime's shared provider bridge (downloaded with the CUDA provider)"],
];

/** What a library is, e.g. `libcublasLt.so.12` → `cuBLASLt (CUDA toolkit / nvidia-cublas)`. */
export function libraryRole(name: string): string | undefined {
  return LIBRARY_ROLES.find(([pattern]) => pattern.test(name))?.[1];
}

/**
 * The `DT_NEEDED` entries of a 64-bit little-endian ELF shared library, read from its section
 * headers (only the headers and the dynamic string table are read, not the whole file). Throws on
 * a file that is not such an ELF file.
 */
export function readElfNeeded(path: string): string[] {
  const fd = openSync(path, 'r');
  try {
    const read = (position: number, length: number): Buffer => {
      const buffer = Buffer.alloc(length);
      const got = readSync(fd, buffer, 0, length, position);
      if (got !== length) throw new Error(`${path}: truncated ELF file (wanted ${length} bytes at ${position})`);
      return buffer;
    };
    const header = read(0, 64);
    if (header.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${path}: not an ELF file`);
    if (header[4] !== 2 || header[5] !== 1) throw new Error(`${path}: not a 64-bit little-endian ELF file`);
    const sectionOffset = Number(header.readBigUInt64LE(0x28));
    const sectionSize = header.readUInt16LE(0x3a);
    const sectionCount = header.readUInt16LE(0x3c);
    const sections = read(sectionOffset, sectionSize * sectionCount);
    const section = (index: number) => {
      const base = index * sectionSize;
      return {
        type: sections.readUInt32LE(base + 4),
        offset: Number(sections.readBigUInt64LE(base + 0x18)),
        size: Number(sections.readBigUInt64LE(base + 0x20)),
        link: sections.readUInt32LE(base + 0x28),
      };
    };
    const SHT_DYNAMIC = 6;
    const DT_NEEDED = 1n;
    for (let index = 0; index < sectionCount; index++) {
      const dynamic = section(index);
      if (dynamic.type !== SHT_DYNAMIC) continue;
      const strings = section(dynamic.link);
      const table = read(strings.offset, strings.size);
      const entries = read(dynamic.offset, dynamic.size);
      const needed: string[] = [];
      for (let at = 0; at + 16 <= entries.length; at += 16) {
        const tag = entries.readBigInt64LE(at);
        if (tag === 0n) break;
        if (tag !== DT_NEEDED) continue;
        const start = Number(entries.readBigUInt64LE(at + 8));
        const end = table.indexOf(0, start);
        needed.push(table.toString('utf8', start, end < 0 ? table.length : end));
      }
      return needed;
    }
    return [];
  } finally {
    closeSync(fd);
  }
}

let ldconfigNames: Set<string> | undefined;

/** Library file names in the `ldconfig` cache (empty where `ldconfig` is missing). */
function ldconfigCache(): Set<string> {
  if (ldconfigNames) return ldconfigNames;
  ldconfigNames = new Set();
  for (const command of ['ldconfig', '/sbin/ldconfig', '/usr/sbin/ldconfig']) {
    const result = spawnSync(command, ['-p'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    if (result.status !== 0 || !result.stdout) continue;
    for (const line of result.stdout.split('\n')) {
      const name = /^\s+(\S+)\s/u.exec(line)?.[1];
      if (name) ldconfigNames.add(name);
    }
    break;
  }
  return ldconfigNames;
}

/** The loader's lookup, approximated: LD_LIBRARY_PATH, the provider's folder, ldconfig, default folders. */
function defaultLibraryExists(name: string, providerDir: string): boolean {
  const folders = [
    ...(process.env.LD_LIBRARY_PATH ?? '').split(':').filter((folder) => folder !== ''),
    providerDir,
    '/lib',
    '/usr/lib',
    '/lib64',
    '/usr/lib64',
    '/lib/x86_64-linux-gnu',
    '/usr/lib/x86_64-linux-gnu',
  ];
  return folders.some((folder) => existsSync(join(folder, name))) || ldconfigCache().has(name);
}

/** onnxruntime-node's package folder, or undefined when it is not installed. */
export function resolveOrtPackageDir(resolveFrom: readonly string[] = [import.meta.url, join(process.cwd(), 'package.json')]): string | undefined {
  for (const base of resolveFrom) {
    try {
      return dirname(createRequire(base).resolve('onnxruntime-node/package.json'));
    } catch {
      // not resolvable from here
    }
  }
  return undefined;
}

/** Is ONNX Runtime's CUDA provider installed, and would its libraries load? (see the file header) */
export function cudaProviderStatus(options: CudaProviderOptions = {}): CudaProviderStatus {
  const platform = options.platform ?? process.platform;
  const arch = options.arch ?? process.arch;
  if (platform !== 'linux' || arch !== 'x64') {
    return { installed: false, ready: false, missingLibraries: [], reason: `onnxruntime-node has no CUDA provider for ${platform}/${arch} (Linux x64 only)` };
  }
  const ortDir = options.ortPackageDir ?? resolveOrtPackageDir(options.resolveFrom);
  if (!ortDir) return { installed: false, ready: false, missingLibraries: [], reason: 'onnxruntime-node is not installed' };
  const fileExists = options.fileExists ?? existsSync;
  const providerDir = join(ortDir, 'bin', 'napi-v6', 'linux', 'x64');
  const providerPath = join(providerDir, 'libonnxruntime_providers_cuda.so');
  if (!fileExists(providerPath)) {
    return {
      installed: false,
      ready: false,
      missingLibraries: [],
      reason: `the CUDA provider is not installed (no ${providerPath}; onnxruntime-node's install step was skipped or could not reach NuGet): ${cudaInstallHint(ortDir)}`,
    };
  }
  let needed: string[];
  try {
    needed = (options.readNeeded ?? readElfNeeded)(providerPath);
  } catch (error) {
    return { installed: true, ready: false, providerPath, missingLibraries: [], reason: `cannot read ${providerPath}: ${(error as Error).message}` };
  }
  const exists = options.libraryExists ?? defaultLibraryExists;
  const missing = needed.filter((name) => !exists(name, providerDir));
  if (missing.length > 0) {
    const named = missing.map((name) => `${name}${libraryRole(name) ? ` (${libraryRole(name)})` : ''}`).join(', ');
    return {
      installed: true,
      ready: false,
      providerPath,
      missingLibraries: missing,
      reason: `the CUDA provider needs ${named}, not found on the library path: install ${missing.length === 1 ? 'it' : 'them'} or add ${missing.length === 1 ? 'its folder' : 'their folders'} to LD_LIBRARY_PATH`,
    };
  }
  return { installed: true, ready: true, providerPath, missingLibraries: [], reason: `CUDA provider at ${providerPath}, its libraries found` };
}

/**
 * Turn an ONNX Runtime CUDA failure into a sentence that names what is missing: a library the
 * loader did not find (`libcublasLt.so.12: cannot open shared object file`), no GPU, an old driver.
 * Messages it does not recognise come back as their first line.
 */
export function explainCudaFailure(message: string): string {
  const library = /(lib[\w.+-]+\.so[\w.]*): cannot open shared object file/u.exec(message)?.[1];
  if (library) {
    const role = libraryRole(library);
    return `the CUDA provider cannot load ${library}${role ? ` (${role})` : ''}: install it or add its folder to LD_LIBRARY_PATH`;
  }
  if (/no CUDA-capable device|cudaErrorNoDevice|CUDA failure 100/u.test(message)) return 'no CUDA device is visible (driver loaded, no GPU: check CUDA_VISIBLE_DEVICES and nvidia-smi)';
  if (/driver version is insufficient|cudaErrorInsufficientDriver|CUDA failure 35/u.test(message)) {
    return 'the NVIDIA driver is older than the CUDA runtime the provider was built for (CUDA 12): update the driver';
  }
  if (/Failed to load (shared )?library.*providers_cuda|providers_cuda.*(not found|No such file)/u.test(message)) {
    return `the CUDA provider library does not load: ${message.split('\n').find((line) => line.trim() !== '')?.trim() ?? message}`;
  }
  return message.split('\n').find((line) => line.trim() !== '')?.trim() ?? message;
}
