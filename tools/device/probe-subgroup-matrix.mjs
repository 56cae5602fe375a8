#!/usr/bin/env node
/**
 * Whether this machine's WebGPU adapter (Dawn, the `webgpu` package) can use tensor cores from
 * WGSL: Dawn's experimental `chromium-experimental-subgroup-matrix` (Vulkan
 * `VK_KHR_cooperative_matrix`, Metal simdgroup matrices). Prints one JSON object: the adapter, its
 * features, `adapter.info.subgroupMatrixConfigs`, and for f16 → f32 at 16×16×16 and 8×8×8 (the
 * shapes kernels/matmul-f16.ts of @vlm-grpo/policy-webgpu can use) whether a shader that loads,
 * multiplies and stores one such matrix (that kernel's WGSL form) compiles on a device with the
 * feature. Without a GPU (lavapipe) the feature is absent and `compiles` stays empty.
 *
 *   node tools/device/probe-subgroup-matrix.mjs [--toggles t1,t2]
 *
 * The instance is created with `enable-dawn-features=allow_unsafe_apis` (the feature is
 * experimental); `--toggles` adds Dawn toggles to that list (e.g. `vulkan_enable_f16_on_nvidia`;
 * the binding reads no other flag for toggles). Measured
 * 2026-12-07 on the H100 (driver 580.159.04, webgpu 0.6.2): the device got the feature, but the
 * engine read the configurations from `device.adapterInfo`, which Dawn's binding fills without them
 * (`deviceAdapterInfoConfigs` below counts them there), so its f16 matmuls ran the plain kernel.
 * Exit status 0 when an adapter was found, 1 when none.
 */
import { parseArgs } from 'node:util';
import { create, globals } from 'webgpu';

const FEATURE = 'chromium-experimental-subgroup-matrix';
const { values } = parseArgs({ options: { toggles: { type: 'string' } } });
Object.assign(globalThis, globals);
// Dawn's node binding reads instance toggles from `enable-dawn-features=` alone (its TogglesLoader)
const flags = [['enable-dawn-features=allow_unsafe_apis', ...(values.toggles ? values.toggles.split(',').filter(Boolean) : [])].join(',')];
const adapter = await create(flags).requestAdapter({ powerPreference: 'high-performance' });
if (!adapter) {
  console.log(JSON.stringify({ adapter: null, flags }, null, 2));
  process.exit(1);
}
const info = adapter.info;
const report = {
  adapter: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description, subgroupMinSize: info.subgroupMinSize, subgroupMaxSize: info.subgroupMaxSize },
  flags,
  features: [...adapter.features].sort(),
  subgroupMatrixFeature: adapter.features.has(FEATURE),
  subgroupMatrixConfigs: [...(info.subgroupMatrixConfigs ?? [])].map((c) => ({ componentType: c.componentType, resultComponentType: c.resultComponentType, M: c.M, N: c.N, K: c.K })),
  compiles: {},
};
if (report.subgroupMatrixFeature && adapter.features.has('shader-f16') && adapter.features.has('subgroups')) {
  const device = await adapter.requestDevice({ requiredFeatures: ['shader-f16', 'subgroups', FEATURE] });
  // Dawn's binding fills device.adapterInfo without the configurations (only adapter.info lists them)
  report.deviceAdapterInfoConfigs = [...(device.adapterInfo?.subgroupMatrixConfigs ?? [])].length;
  for (const size of [16, 8]) {
    const code = [
      'enable f16;',
      'enable subgroups;',
      'enable chromium_experimental_subgroup_matrix;',
      '@group(0) @binding(0) var<storage, read_write> a: array<f16>;',
      '@group(0) @binding(1) var<storage, read_write> c: array<f32>;',
      `@compute @workgroup_size(${info.subgroupMaxSize || 32}) fn main() {`,
      `  let l = subgroupMatrixLoad<subgroup_matrix_left<f16, ${size}, ${size}>, row_major>(&a, 0u, ${size}u);`,
      `  let r = subgroupMatrixLoad<subgroup_matrix_right<f16, ${size}, ${size}>, row_major>(&a, 0u, ${size}u);`,
      `  let acc = subgroupMatrixMultiplyAccumulate(l, r, subgroup_matrix_result<f32, ${size}, ${size}>());`,
      `  subgroupMatrixStore<row_major>(&c, 0u, acc, ${size}u);`,
      '}',
    ].join('\n');
    device.pushErrorScope('validation');
    const module = device.createShaderModule({ code });
    const messages = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error').map((m) => m.message);
    const error = await device.popErrorScope();
    report.compiles[`f16→f32 ${size}×${size}×${size}`] = error ? error.message.split('\n').slice(0, 3).join(' | ') : messages.length ? messages.join(' | ') : true;
  }
  device.destroy();
}
console.log(JSON.stringify(report, null, 2));
process.exit(0);
