/**
 * Device creation (gpu.ts): the Dawn instance flag that offers subgroup matrices is merged into the
 * caller's flags, and the device gets `chromium-experimental-subgroup-matrix` exactly where the
 * adapter lists it under that flag; elsewhere (lavapipe) the same features as without the option.
 */
import { expect, it } from 'vitest';
import { describeGpu, testDawnFlags } from './__fixtures__/gpu-test-utils.js';
import { createGpuContext, withDawnFeature } from './gpu.js';
import { prepareMatmulF16, SUBGROUP_MATRIX_DAWN_FLAG, SUBGROUP_MATRIX_FEATURE, subgroupMatrixSupport } from './kernels/matmul-f16.js';

it('withDawnFeature adds the toggle once, into an existing enable-dawn-features list', () => {
  expect(withDawnFeature([], SUBGROUP_MATRIX_DAWN_FLAG)).toEqual(['enable-dawn-features=allow_unsafe_apis']);
  expect(withDawnFeature(['backend=vulkan'], SUBGROUP_MATRIX_DAWN_FLAG)).toEqual(['backend=vulkan', 'enable-dawn-features=allow_unsafe_apis']);
  expect(withDawnFeature(['enable-dawn-features=use_dxc'], SUBGROUP_MATRIX_DAWN_FLAG)).toEqual(['enable-dawn-features=use_dxc,allow_unsafe_apis']);
  expect(withDawnFeature(['enable-dawn-features=allow_unsafe_apis,use_dxc'], SUBGROUP_MATRIX_DAWN_FLAG)).toEqual(['enable-dawn-features=allow_unsafe_apis,use_dxc']);
});

describeGpu('createGpuContext and subgroup matrices', () => {
  it('requests the subgroup-matrix feature where the adapter offers it, and changes no feature where it does not', async () => {
    const [withOption, without] = [await createGpuContext({ dawnFlags: testDawnFlags }), await createGpuContext({ dawnFlags: testDawnFlags, subgroupMatrix: false })];
    const offered = withOption.device.features.has(SUBGROUP_MATRIX_FEATURE);
    const extra = [...withOption.device.features].filter((f) => !without.device.features.has(f)).sort();
    expect(extra).toEqual(offered ? [SUBGROUP_MATRIX_FEATURE, 'subgroups'].filter((f) => !without.device.features.has(f)).sort() : []);
    expect(without.device.features.has(SUBGROUP_MATRIX_FEATURE)).toBe(false);
    // where it is offered the adapter info is registered, so 'auto' can verify and pick the kernel
    if (offered && 'support' in subgroupMatrixSupport(withOption)) expect(await prepareMatmulF16(withOption)).toBe('subgroup-matrix');
    console.log(`[gpu] ${withOption.adapterInfo}: subgroup matrices ${offered ? 'requested' : 'not offered'}`);
    withOption.device.destroy();
    without.device.destroy();
  });
});
