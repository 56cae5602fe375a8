/**
 * tools/device/probe-subgroup-matrix.mjs on this machine's WebGPU adapter (Mesa's lavapipe on a CPU
 * machine: VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.json): its JSON agrees with itself (the
 * feature flag with the feature list, compile checks only where the feature is), and toggles reach
 * the instance flags. Without an adapter it is skipped with the reason, except under CI (env `CI`
 * set), where it fails.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./probe-subgroup-matrix.mjs', import.meta.url));

describe('tools/device/probe-subgroup-matrix.mjs', () => {
  it('reports the adapter, its features and subgroup-matrix configurations as one consistent JSON object', (context) => {
    const run = spawnSync(process.execPath, [script, '--toggles', 'vulkan_enable_f16_on_nvidia'], { encoding: 'utf8' });
    if (run.status === 1 && !process.env.CI) {
      console.warn('[tools] probe-subgroup-matrix test skipped: no WebGPU adapter');
      context.skip();
    }
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report.flags).toEqual(['enable-dawn-features=allow_unsafe_apis,vulkan_enable_f16_on_nvidia']);
    expect(typeof report.adapter.description).toBe('string');
    expect(report.features.length).toBeGreaterThan(0);
    expect(report.subgroupMatrixFeature).toBe(report.features.includes('chromium-experimental-subgroup-matrix'));
    expect(Array.isArray(report.subgroupMatrixConfigs)).toBe(true);
    for (const config of report.subgroupMatrixConfigs) expect(Object.keys(config)).toEqual(['componentType', 'resultComponentType', 'M', 'N', 'K']);
    if (report.subgroupMatrixFeature) expect(Object.keys(report.compiles)).toEqual(['f16→f32 16×16×16', 'f16→f32 8×8×8']);
    else expect(report.compiles).toEqual({});
  }, 60_000);
});
