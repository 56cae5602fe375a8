/**
 * Which TensorFlow.js backends `@vlm-grpo/vlm` tries for the policy, in which order.
 *
 * `auto`: `tensorflow` (tfjs-node-gpu / tfjs-node, when installed) → `webgpu` (hardware adapters
 * only: `probeWebgpuAdapter`, so Dawn on Vulkan, Metal or D3D12 with a real GPU) → `wasm` (SIMD)
 * → `cpu` (pure JavaScript). An explicit backend is tried alone; an explicit `webgpu` takes any
 * adapter, software ones included.
 */
import { DeviceError } from './errors.js';
import type { DeviceCandidate } from './select-device.js';
import { describeWebgpuProbe, type WebgpuProbe } from './webgpu-probe.js';

/** TensorFlow.js backends of the policy. */
export type PolicyBackend = 'tensorflow' | 'webgpu' | 'wasm' | 'cpu';

/** A backend request: a backend or `auto`. */
export type PolicyBackendRequest = PolicyBackend | 'auto';

/** The `auto` order, fastest first. */
export const POLICY_AUTO_ORDER: readonly PolicyBackend[] = ['tensorflow', 'webgpu', 'wasm', 'cpu'];

/** Plan the backends to try for `requested` (see the file header). */
export async function planPolicyBackends(
  requested: PolicyBackendRequest,
  host: { webgpu: () => Promise<WebgpuProbe> },
): Promise<DeviceCandidate<PolicyBackend>[]> {
  if (requested !== 'auto' && !POLICY_AUTO_ORDER.includes(requested)) {
    throw new DeviceError('DEVICE_INVALID_ARGUMENT', `backend ${JSON.stringify(requested)}: expected auto, ${POLICY_AUTO_ORDER.join(', ')}`);
  }
  if (requested !== 'auto') return [{ device: requested }];
  const plan: DeviceCandidate<PolicyBackend>[] = [];
  for (const backend of POLICY_AUTO_ORDER) {
    if (backend !== 'webgpu') {
      plan.push({ device: backend });
      continue;
    }
    const probe = await host.webgpu();
    if (probe.status === 'hardware') plan.push({ device: backend });
    else if (probe.status === 'software') plan.push({ device: backend, skip: `${describeWebgpuProbe(probe)}: auto takes hardware adapters only (ask for webgpu to use it)` });
    else plan.push({ device: backend, skip: `no WebGPU adapter: ${probe.reason}` });
  }
  return plan;
}
