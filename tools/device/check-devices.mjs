#!/usr/bin/env node
/**
 * What `auto` decides on this machine, from @vlm-grpo/device (the module every package uses):
 * the WebGPU adapter (hardware or software), the CUDA provider (installed, libraries found), and
 * the plans for the policy (tfjs) and for ONNX Runtime (diffusion, CLIP). Prints one JSON object.
 *
 * On the GPU machine (after `source .device/activate.sh`): `node tools/device/check-devices.mjs`.
 * Expected on an NVIDIA GPU with a Vulkan ICD and no CUDA provider: webgpu `hardware`, cuda
 * `installed: false` with the install command, policy plan keeps `webgpu`, ONNX plan keeps
 * `webgpu`. With the CUDA provider and its libraries: ONNX plan keeps `cuda` first; with a library
 * missing, cuda's skip reason names it. Exit status 0 when the probe ran.
 */
import { cudaProviderStatus, defaultOnnxHost, planOnnxDevices, planPolicyBackends, probeWebgpuAdapter } from '@vlm-grpo/device';

const started = performance.now();
const webgpu = await probeWebgpuAdapter();
const probeMs = Math.round(performance.now() - started);
const host = defaultOnnxHost();
const report = {
  platform: `${process.platform}/${process.arch}`,
  vk_driver_files: process.env.VK_DRIVER_FILES ?? null,
  webgpu: { ...webgpu, stderr: webgpu.stderr.split('\n').filter(Boolean).slice(0, 5), probe_ms: probeMs },
  cuda: cudaProviderStatus(),
  policy_plan: await planPolicyBackends('auto', { webgpu: async () => webgpu }),
  onnx_plan: await planOnnxDevices('auto', { ...host, webgpu: async () => webgpu }),
};
console.log(JSON.stringify(report, null, 2));
