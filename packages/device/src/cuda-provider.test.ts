import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cudaProviderStatus, explainCudaFailure, readElfNeeded } from './cuda-provider.js';

const ORT_DIR = '/fake/node_modules/onnxruntime-node';
const PROVIDER = join(ORT_DIR, 'bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so');
const NEEDED = ['libonnxruntime_providers_shared.so', 'libcublasLt.so.12', 'libcublas.so.12', 'libcudnn.so.9', 'libcurand.so.10', 'libcudart.so.12', 'libstdc++.so.6', 'libc.so.6'];

describe('cudaProviderStatus (stubbed files and loader)', () => {
  it('is not installed where the provider file is absent, and says how to install it', () => {
    const status = cudaProviderStatus({ ortPackageDir: ORT_DIR, platform: 'linux', arch: 'x64', fileExists: () => false });
    expect(status).toMatchObject({ installed: false, ready: false });
    expect(status.reason).toContain(`ONNXRUNTIME_NODE_INSTALL=cuda12 node ${ORT_DIR}/script/install.js`);
  });

  it('names each missing library and what it is', () => {
    const status = cudaProviderStatus({
      ortPackageDir: ORT_DIR,
      platform: 'linux',
      arch: 'x64',
      fileExists: (path) => path === PROVIDER,
      readNeeded: () => NEEDED,
      libraryExists: (name) => !['libcublasLt.so.12', 'libcudnn.so.9'].includes(name),
    });
    expect(status).toMatchObject({ installed: true, ready: false, missingLibraries: ['libcublasLt.so.12', 'libcudnn.so.9'] });
    expect(status.reason).toBe(
      'the CUDA provider needs libcublasLt.so.12 (cuBLASLt (CUDA toolkit / nvidia-cublas)), libcudnn.so.9 (cuDNN 9 (nvidia-cudnn)), not found on the library path: install them or add their folders to LD_LIBRARY_PATH',
    );
  });

  it('is ready when every needed library is found', () => {
    const status = cudaProviderStatus({ ortPackageDir: ORT_DIR, platform: 'linux', arch: 'x64', fileExists: () => true, readNeeded: () => NEEDED, libraryExists: () => true });
    expect(status).toMatchObject({ installed: true, ready: true, providerPath: PROVIDER });
  });

  it('has no CUDA provider outside Linux x64', () => {
    expect(cudaProviderStatus({ platform: 'darwin', arch: 'arm64' }).reason).toBe('onnxruntime-node has no CUDA provider for darwin/arm64 (Linux x64 only)');
    expect(cudaProviderStatus({ platform: 'linux', arch: 'arm64' }).installed).toBe(false);
  });
});

describe('readElfNeeded', () => {
  const binding = join(dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json')), 'bin/napi-v6/linux/x64/onnxruntime_binding.node');
  it.runIf(process.platform === 'linux' && process.arch === 'x64' && existsSync(binding))('reads DT_NEEDED as readelf does (onnxruntime-node binding)', () => {
    const needed = readElfNeeded(binding);
    expect(needed).toContain('libonnxruntime.so.1');
    const readelf = spawnSync('readelf', ['-d', binding], { encoding: 'utf8' });
    if (readelf.status === 0) {
      const expected = [...readelf.stdout.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/gu)].map((match) => match[1]);
      expect(needed).toEqual(expected);
    }
  });

  it('rejects a file that is not ELF', () => {
    expect(() => readElfNeeded(new URL(import.meta.url).pathname)).toThrow(/not an ELF file/u);
  });
});

describe('explainCudaFailure', () => {
  it('names the library the loader did not find', () => {
    const ort =
      '[E:onnxruntime:Default, provider_bridge_ort.cc:2251 TryGetProviderInfo_CUDA] /onnxruntime_src/onnxruntime/core/session/provider_bridge_ort.cc:1844 onnxruntime::Provider& onnxruntime::ProviderLibrary::Get() [ONNXRuntimeError] : 1 : FAIL : Failed to load library libonnxruntime_providers_cuda.so with error: libcublasLt.so.12: cannot open shared object file: No such file or directory';
    expect(explainCudaFailure(ort)).toBe('the CUDA provider cannot load libcublasLt.so.12 (cuBLASLt (CUDA toolkit / nvidia-cublas)): install it or add its folder to LD_LIBRARY_PATH');
  });

  it('explains a missing GPU and an old driver, and passes other messages through', () => {
    expect(explainCudaFailure('CUDA failure 100: no CUDA-capable device is detected ; GPU=0')).toMatch(/no CUDA device is visible/u);
    expect(explainCudaFailure('CUDA failure 35: CUDA driver version is insufficient for CUDA runtime version')).toMatch(/driver is older/u);
    expect(explainCudaFailure('\nsomething else\nsecond line')).toBe('something else');
  });
});
