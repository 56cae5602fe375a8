/**
 * @vlm-grpo/device: the one place that decides where vlm-grpo's models run. Hardware-only
 * `auto` (software WebGPU adapters such as lavapipe are never picked by `auto`), the ONNX Runtime
 * provider order per platform (CUDA, WebGPU, Core ML, CPU), the CUDA provider's install state with
 * missing libraries named, and the loop that tries candidates and explains the decision.
 */
export { DeviceError, type DeviceErrorCode } from './errors.js';
export { SOFTWARE_ADAPTER_NAMES, adapterLabel, classifyAdapter, type AdapterClass, type AdapterInfoLike, type AdapterLike } from './adapter.js';
export {
  WEBGPU_PROBE_SCRIPT,
  describeWebgpuProbe,
  probeWebgpuAdapter,
  resolveWebgpuPackage,
  type ProbeRunResult,
  type WebgpuProbe,
  type WebgpuProbeOptions,
} from './webgpu-probe.js';
export {
  cudaInstallHint,
  cudaProviderStatus,
  explainCudaFailure,
  libraryRole,
  readElfNeeded,
  resolveOrtPackageDir,
  type CudaProviderOptions,
  type CudaProviderStatus,
} from './cuda-provider.js';
export { ONNX_DEVICE_REQUESTS, defaultOnnxHost, onnxAutoOrder, planOnnxDevices, type OnnxDevice, type OnnxDeviceRequest, type OnnxHost } from './onnx-devices.js';
export { POLICY_AUTO_ORDER, planPolicyBackends, type PolicyBackend, type PolicyBackendRequest } from './policy-backends.js';
export {
  DeviceUnavailableError,
  describeDecision,
  firstLine,
  selectDevice,
  shortReason,
  type DeviceAttempt,
  type DeviceCandidate,
  type DeviceDecision,
  type SelectDeviceOptions,
} from './select-device.js';
