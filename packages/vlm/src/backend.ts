/**
 * TensorFlow.js backend selection. Every backend package is imported lazily, inside
 * {@link initBackend}, never at module load.
 *
 * - `tensorflow`: `@tensorflow/tfjs-node-gpu`, then `@tensorflow/tfjs-node` (optional peers; their
 *   install downloads libtensorflow, so they are often absent).
 * - `webgpu`: `@tensorflow/tfjs-backend-webgpu` on Dawn through the `webgpu` npm package. The
 *   globals (`navigator.gpu`, `GPUBufferUsage`, …) must exist before the backend module is
 *   imported; tfjs 4.22 passes `requiredFeatures` with a nested array, which is flattened here.
 * - `wasm`: `@tensorflow/tfjs-backend-wasm` (SIMD; ≈25× the pure-JS backend on this project's CPUs).
 * - `cpu`: the pure-JS backend bundled with `@tensorflow/tfjs`.
 *
 * `auto` tries them in that order (fastest first) and returns why each skipped one was skipped.
 * The plan and the loop are `@vlm-grpo/device`'s (shared with diffusion, CLIP and the trainer's
 * doctor): `auto` takes `webgpu` only for a hardware adapter, probed in a child process so Dawn's
 * driver warnings stay off the console; an explicit `webgpu` takes any adapter (lavapipe in CI).
 */
import * as tf from '@tensorflow/tfjs';
import { POLICY_AUTO_ORDER, planPolicyBackends, probeWebgpuAdapter, selectDevice, type DeviceDecision } from '@vlm-grpo/device';
import { VlmError } from './errors.js';

/** Backend names accepted by {@link initBackend}. */
export type BackendName = 'auto' | 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

/** Order tried by `auto`, fastest first. */
export const AUTO_BACKEND_ORDER: readonly Exclude<BackendName, 'auto'>[] = POLICY_AUTO_ORDER;

/** Outcome of {@link initBackend}. */
export interface BackendReport {
  /** The tfjs backend now active (`tf.getBackend()`). */
  backend: Exclude<BackendName, 'auto'>;
  /** Why this one was picked. */
  reason: string;
  /** Backends tried before it and why each failed. */
  skipped: { backend: Exclude<BackendName, 'auto'>; reason: string }[];
  /** The decision: `summary` (one short line, what {@link InitBackendOptions.logger} receives) and `detail` (every reason). */
  decision: DeviceDecision<Exclude<BackendName, 'auto'>>;
}

/** Options of {@link initBackend}. */
export interface InitBackendOptions {
  /** Receives one short line describing the choice (default: none); the full reasons are in the report's `decision.detail`. */
  logger?: (message: string) => void;
  /** `webgpu`: arguments for `webgpu.create()` (default: `[]`). */
  webgpuFlags?: string[];
}

let current: Promise<BackendReport> | undefined;
let currentName: BackendName | undefined;

function message(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

async function tryTensorflow(): Promise<string> {
  const errors: string[] = [];
  let notInstalled = 0;
  for (const name of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(/* @vite-ignore */ name);
      if (await tf.setBackend('tensorflow')) return `${name} (libtensorflow)`;
      errors.push(`${name} loaded but the backend failed to initialise`);
    } catch (error) {
      if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND' || /Cannot find (package|module)|Could not resolve/u.test(message(error))) notInstalled += 1;
      errors.push(`${name}: ${message(error)}`);
    }
  }
  throw new Error(notInstalled === 2 ? 'not installed (@tensorflow/tfjs-node-gpu and @tensorflow/tfjs-node are optional peers)' : errors.join('; '));
}

async function tryWebgpu(flags: string[]): Promise<string> {
  const global = globalThis as Record<string, unknown>;
  const navigatorObject = (global.navigator ?? {}) as { gpu?: { requestAdapter(options?: unknown): Promise<unknown> } };
  if (!navigatorObject.gpu) {
    const webgpu = (await import(/* @vite-ignore */ 'webgpu')) as unknown as {
      create(flags: string[]): { requestAdapter(options?: unknown): Promise<unknown> };
      globals: Record<string, unknown>;
    };
    Object.assign(globalThis, webgpu.globals);
    const gpu = webgpu.create(flags);
    if (global.navigator) {
      Object.defineProperty(global.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
    } else {
      global.navigator = { gpu };
    }
  }
  const gpu = (global.navigator as { gpu: { requestAdapter(options?: unknown): Promise<unknown> } }).gpu;
  const adapter = (await gpu.requestAdapter({ powerPreference: 'high-performance' })) as {
    info?: { vendor?: string; architecture?: string; description?: string };
  } | null;
  if (!adapter) throw new Error('navigator.gpu.requestAdapter() returned null (no WebGPU adapter: no Vulkan/Metal/D3D12 driver?)');
  const adapterClass = (globalThis as { GPUAdapter?: { prototype: { requestDevice(descriptor?: { requiredFeatures?: unknown[] }): unknown } } }).GPUAdapter;
  if (adapterClass && !(adapterClass.prototype as { __vlmFlattened?: boolean }).__vlmFlattened) {
    const original = adapterClass.prototype.requestDevice;
    adapterClass.prototype.requestDevice = function requestDevice(descriptor?: { requiredFeatures?: unknown[] }) {
      const fixed = descriptor?.requiredFeatures ? { ...descriptor, requiredFeatures: descriptor.requiredFeatures.flat() } : descriptor;
      return original.call(this, fixed);
    };
    (adapterClass.prototype as { __vlmFlattened?: boolean }).__vlmFlattened = true;
  }
  await import(/* @vite-ignore */ '@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs webgpu backend failed to initialise');
  const info = adapter.info;
  return `WebGPU adapter ${[info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' ') || '(unnamed)'}`;
}

async function tryWasm(): Promise<string> {
  await import('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend('wasm'))) throw new Error('tfjs wasm backend failed to initialise');
  return 'WebAssembly (SIMD when the CPU has it)';
}

async function tryCpu(): Promise<string> {
  if (!(await tf.setBackend('cpu'))) throw new Error('tfjs cpu backend failed to initialise');
  // The cpu backend prints a banner ("Hi, looks like you are running TensorFlow.js in Node.js …
  // install our node backend") on its first tensor; the decision above already says which faster
  // backends were tried and why they were skipped, so the console stays quiet.
  const backend = tf.backend() as { firstUse?: boolean };
  if (backend.firstUse === true) backend.firstUse = false;
  return 'pure JavaScript';
}

async function initOne(name: Exclude<BackendName, 'auto'>, options: InitBackendOptions): Promise<string> {
  switch (name) {
    case 'tensorflow':
      return tryTensorflow();
    case 'webgpu':
      return tryWebgpu(options.webgpuFlags ?? []);
    case 'wasm':
      return tryWasm();
    case 'cpu':
      return tryCpu();
  }
}

/**
 * Select and initialise a tfjs backend. A named backend that fails throws `VlmError`
 * (`VLM_BACKEND_UNAVAILABLE`) with the reason; `auto` tries `tensorflow`, `webgpu` (hardware
 * adapters only), `wasm`, `cpu` in order, keeps the first that initialises and logs one line
 * (the report's `decision.detail` has every reason). Calling again with the same name returns the
 * first call's report; a different name switches backend (tensors made on the old backend move
 * lazily, as tfjs does).
 */
export async function initBackend(name: BackendName = 'auto', options: InitBackendOptions = {}): Promise<BackendReport> {
  if (!['auto', ...AUTO_BACKEND_ORDER].includes(name)) {
    throw new VlmError('VLM_INVALID_ARGUMENT', `backend must be one of auto, ${AUTO_BACKEND_ORDER.join(', ')}; received "${name}"`);
  }
  if (current && currentName === name) return current;
  currentName = name;
  current = (async () => {
    const candidates = await planPolicyBackends(name, { webgpu: () => probeWebgpuAdapter({ flags: options.webgpuFlags ?? [] }) });
    try {
      const { device, decision } = await selectDevice({
        what: 'policy',
        requested: name,
        candidates,
        attempt: async (candidate) => ({ value: undefined, detail: await initOne(candidate, options) }),
      });
      options.logger?.(`[vlm] backend: ${decision.summary.replace(/^policy: /u, '')}`);
      const skipped = decision.attempts.filter((attempt) => attempt.outcome !== 'picked').map((attempt) => ({ backend: attempt.device, reason: attempt.reason }));
      const picked = decision.attempts.find((attempt) => attempt.outcome === 'picked')?.reason ?? '';
      const reason = name === 'auto' ? `auto picked ${device} (${picked})` : `${device} requested (${picked})`;
      return { backend: device, reason, skipped, decision };
    } catch (error) {
      const attempts = (error as { attempts?: { device: string; reason: string }[] }).attempts;
      throw new VlmError(
        'VLM_BACKEND_UNAVAILABLE',
        `no tfjs backend could be initialised for "${name}": ${attempts ? attempts.map((attempt) => `${attempt.device}: ${attempt.reason}`).join('; ') : message(error)}`,
        { cause: error },
      );
    }
  })();
  try {
    return await current;
  } catch (error) {
    current = undefined;
    currentName = undefined;
    throw error;
  }
}
