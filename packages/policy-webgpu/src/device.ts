/**
 * Public device and profiler factories: opaque handles ({@link PolicyDevice}, {@link PolicyProfiler})
 * over `gpu.ts`'s context and timestamp profiler, so the package's public declarations need no
 * WebGPU or DOM types.
 */
import { createGpuContext, GpuContext, TimestampProfiler } from './gpu.js';
import { PolicyWebGpuError } from './errors.js';
import type { PolicyDevice, PolicyProfiler } from './model-types.js';

/** Options of {@link createPolicyDevice}. */
export interface PolicyDeviceOptions {
  /** A `GPUDevice` to use instead of requesting one (e.g. in a browser) (default: request one). */
  device?: object;
  /** Arguments of the `webgpu` package's `create` (default: none). */
  dawnFlags?: string[];
  /** Request `timestamp-query` for {@link createProfiler} (default: false). */
  timestamps?: boolean;
  /** Accept software adapters such as lavapipe (default: true). */
  allowSoftware?: boolean;
  /**
   * Offer Dawn's experimental subgroup matrices (tensor cores) to `precision: 'f16'` engines: the
   * Dawn instance gets `enable-dawn-features=allow_unsafe_apis`, and the device gets
   * `chromium-experimental-subgroup-matrix` (with `subgroups`, `shader-f16`) where the adapter
   * offers it; elsewhere nothing changes (default: true).
   */
  subgroupMatrix?: boolean;
}

/**
 * A WebGPU device for engines: the `webgpu` package (Dawn) is imported here, lazily; the device
 * gets the adapter's largest buffer limits, `shader-f16` when offered and subgroup matrices where
 * offered (option `subgroupMatrix`). Throws `WEBGPU_UNAVAILABLE` with the reason when no adapter
 * initialises.
 */
export async function createPolicyDevice(options: PolicyDeviceOptions = {}): Promise<PolicyDevice> {
  return createGpuContext({
    ...(options.device ? { device: options.device as GPUDevice } : {}),
    ...(options.dawnFlags ? { dawnFlags: options.dawnFlags } : {}),
    ...(options.timestamps !== undefined ? { timestamps: options.timestamps } : {}),
    ...(options.allowSoftware !== undefined ? { allowSoftware: options.allowSoftware } : {}),
    ...(options.subgroupMatrix !== undefined ? { subgroupMatrix: options.subgroupMatrix } : {}),
  });
}

/** A timestamp profiler for `engine.profiler` (the device needs `timestamps: true`); at most `capacity` dispatches (default: 2048). */
export function createProfiler(device: PolicyDevice, capacity?: number): PolicyProfiler {
  if (!(device instanceof GpuContext)) throw new PolicyWebGpuError('WEBGPU_INVALID_ARGUMENT', 'createProfiler: expected a device from createPolicyDevice()');
  return new TimestampProfiler(device, capacity);
}
