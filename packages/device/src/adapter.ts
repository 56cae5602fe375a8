/**
 * Hardware or software? The rule `auto` uses to accept a WebGPU adapter.
 *
 * A software adapter (Mesa's lavapipe/llvmpipe, SwiftShader, Microsoft's WARP / Basic Render
 * Driver, softpipe) runs shaders on the CPU: for this project's models it is slower than ONNX
 * Runtime's CPU provider and tfjs' wasm backend (the default run went from 3.5 to 14 minutes when
 * `auto` took lavapipe). `auto` therefore takes only hardware adapters; an explicit `webgpu`
 * request takes whatever adapter exists (that is how CI tests WebGPU code on lavapipe).
 *
 * Signals, strongest first: `adapter.info.isFallbackAdapter` (WebGPU spec, Dawn sets it for CPU
 * adapters), the older `adapter.isFallbackAdapter`, Dawn's `architecture: 'software'` / adapter
 * type `cpu`, then the driver names in `description`, `device` and `vendor`.
 */

/** The fields of a WebGPU adapter (or its `info`) this module reads; all optional. */
export interface AdapterInfoLike {
  /** Vendor, e.g. `nvidia`, `mesa`, `apple`. */
  vendor?: string;
  /** Architecture, e.g. `ampere`, `software`. */
  architecture?: string;
  /** Device name, e.g. `llvmpipe-llvm-15-0-6-256-bits`. */
  device?: string;
  /** Driver description, e.g. `llvmpipe: Mesa 25.0.7 (LLVM 15.0.6)`. */
  description?: string;
  /** WebGPU: true for an adapter that is a software fallback. */
  isFallbackAdapter?: boolean;
  /** Dawn's adapter type where exposed (`discrete GPU`, `integrated GPU`, `CPU`, `unknown`). */
  adapterType?: string;
  /** Same as `adapterType` under the name some Dawn builds use. */
  type?: string;
}

/** A WebGPU adapter as returned by `requestAdapter()` (only the fields read here). */
export interface AdapterLike {
  /** `GPUAdapterInfo`. */
  info?: AdapterInfoLike;
  /** Pre-2024 spec location of the fallback flag. */
  isFallbackAdapter?: boolean;
}

/** Verdict of {@link classifyAdapter}. */
export interface AdapterClass {
  /** True when the adapter runs on the CPU (never taken by `auto`). */
  software: boolean;
  /** Human-readable name: vendor, architecture, description. */
  label: string;
  /** Which signal decided (`info.isFallbackAdapter`, `description names llvmpipe`, …). */
  reason: string;
}

/** Driver names of CPU (software) rasterisers, matched case-insensitively. */
export const SOFTWARE_ADAPTER_NAMES: readonly string[] = ['llvmpipe', 'lavapipe', 'softpipe', 'swiftshader', 'microsoft basic render', 'warp'];

/** Human-readable name of an adapter: vendor, architecture and description (or device). */
export function adapterLabel(info: AdapterInfoLike | undefined): string {
  const parts = [info?.vendor, info?.architecture, info?.description || info?.device].filter((part): part is string => typeof part === 'string' && part !== '');
  return parts.join(' ') || '(unnamed adapter)';
}

/** Classify an adapter as hardware or software (see the file header for the rule). */
export function classifyAdapter(adapter: AdapterLike): AdapterClass {
  const info = adapter.info ?? {};
  const label = adapterLabel(info);
  if (info.isFallbackAdapter === true) return { software: true, label, reason: 'info.isFallbackAdapter is true' };
  if (adapter.isFallbackAdapter === true) return { software: true, label, reason: 'isFallbackAdapter is true' };
  if (info.architecture?.toLowerCase() === 'software') return { software: true, label, reason: 'architecture is "software"' };
  const type = (info.adapterType ?? info.type ?? '').toLowerCase();
  if (type === 'cpu') return { software: true, label, reason: `adapter type is "${info.adapterType ?? info.type}"` };
  const names = [info.description, info.device, info.vendor].filter((part): part is string => typeof part === 'string').join(' ').toLowerCase();
  for (const name of SOFTWARE_ADAPTER_NAMES) {
    const pattern = new RegExp(`(^|[^a-z])${name.replace(/ /gu, '\\s+')}([^a-z]|$)`, 'u');
    if (pattern.test(names)) return { software: true, label, reason: `the driver is ${name}` };
  }
  return { software: false, label, reason: type ? `adapter type is "${info.adapterType ?? info.type}"` : 'no software-adapter signal' };
}
