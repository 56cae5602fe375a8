/**
 * Which ONNX Runtime execution providers to try, in which order, for `@vlm-grpo/sd` and
 * `@vlm-grpo/clip-reward` (and what the trainer's doctor reports).
 *
 * `auto` order, by platform (fastest first):
 * - Linux x64: `cuda` → `webgpu` → `cpu`. CUDA only when its provider is installed and its
 *   libraries are found (`cudaProviderStatus`), so a machine without it never sees ONNX
 *   Runtime's red provider-load error.
 * - macOS (Apple Silicon and Intel): `webgpu` (Dawn on Metal: the whole graph on the GPU, the path
 *   the golden tests cover) → `coreml` (Core ML: the GPU / Neural Engine for the operators Core ML
 *   supports with static shapes, the rest on the CPU) → `cpu`.
 * - Windows and Linux arm64: `webgpu` → `cpu` (onnxruntime-node has no CUDA provider there).
 * `webgpu` is taken by `auto` only for a hardware adapter (`probeWebgpuAdapter`); an explicit
 * `webgpu` takes any adapter, software ones included. A provider missing from this
 * onnxruntime-node build (`listSupportedBackends()`) is skipped with that reason.
 */
import type { CudaProviderStatus } from './cuda-provider.js';
import { cudaProviderStatus } from './cuda-provider.js';
import { DeviceError } from './errors.js';
import type { DeviceCandidate } from './select-device.js';
import { describeWebgpuProbe, probeWebgpuAdapter, type WebgpuProbe } from './webgpu-probe.js';

/** ONNX Runtime execution providers this project uses. */
export type OnnxDevice = 'cuda' | 'webgpu' | 'coreml' | 'cpu';

/** A device request: a provider or `auto`. */
export type OnnxDeviceRequest = OnnxDevice | 'auto';

/** Every accepted request, for validation messages. */
export const ONNX_DEVICE_REQUESTS: readonly OnnxDeviceRequest[] = ['auto', 'cpu', 'webgpu', 'cuda', 'coreml'];

/** What the plan needs to know about the machine (tests pass stubs). */
export interface OnnxHost {
  /** `process.platform`. */
  platform: string;
  /** `process.arch`. */
  arch: string;
  /** `ort.listSupportedBackends()` of the loaded onnxruntime-node, when it has that function. */
  backends?: readonly { name: string; bundled: boolean }[];
  /** The CUDA provider's state. */
  cuda: () => CudaProviderStatus;
  /** The WebGPU adapter. */
  webgpu: () => Promise<WebgpuProbe>;
}

/** The `auto` order for a platform (see the file header). */
export function onnxAutoOrder(platform: string, arch: string): OnnxDevice[] {
  if (platform === 'darwin') return ['webgpu', 'coreml', 'cpu'];
  if (platform === 'linux' && arch === 'x64') return ['cuda', 'webgpu', 'cpu'];
  return ['webgpu', 'cpu'];
}

/** The real machine: `process`, the CUDA provider files, the shared WebGPU probe. */
export function defaultOnnxHost(options: { backends?: readonly { name: string; bundled: boolean }[]; resolveFrom?: readonly string[] } = {}): OnnxHost {
  return {
    platform: process.platform,
    arch: process.arch,
    ...(options.backends ? { backends: options.backends } : {}),
    cuda: () => cudaProviderStatus(options.resolveFrom ? { resolveFrom: options.resolveFrom } : {}),
    webgpu: () => probeWebgpuAdapter(),
  };
}

/**
 * Plan the providers to try for `requested` (see the file header). With `fallbackToCpu`, an
 * explicit non-CPU request is followed by `cpu`.
 */
export async function planOnnxDevices(
  requested: OnnxDeviceRequest,
  host: OnnxHost,
  options: { fallbackToCpu?: boolean } = {},
): Promise<DeviceCandidate<OnnxDevice>[]> {
  if (!ONNX_DEVICE_REQUESTS.includes(requested)) {
    throw new DeviceError('DEVICE_INVALID_ARGUMENT', `device ${JSON.stringify(requested)}: expected one of ${ONNX_DEVICE_REQUESTS.join(', ')}`);
  }
  const order = requested === 'auto' ? onnxAutoOrder(host.platform, host.arch) : [requested];
  const listed = host.backends?.map((backend) => backend.name);
  const plan: DeviceCandidate<OnnxDevice>[] = [];
  for (const device of order) {
    if (device !== 'cpu' && listed && !listed.includes(device)) {
      plan.push({ device, skip: `not in this onnxruntime-node build for ${host.platform}/${host.arch} (it has ${listed.join(', ')})` });
      continue;
    }
    if (device === 'cuda') {
      const status = host.cuda();
      plan.push(status.ready ? { device } : { device, skip: status.reason });
    } else if (device === 'webgpu' && requested === 'auto') {
      const probe = await host.webgpu();
      if (probe.status === 'hardware') plan.push({ device });
      else if (probe.status === 'software') plan.push({ device, skip: `${describeWebgpuProbe(probe)}: auto takes hardware adapters only (ask for webgpu to use it)` });
      else plan.push({ device, skip: `no WebGPU adapter: ${probe.reason}` });
    } else {
      plan.push({ device });
    }
  }
  if (requested !== 'auto' && requested !== 'cpu' && (options.fallbackToCpu ?? false)) plan.push({ device: 'cpu' });
  return plan;
}
