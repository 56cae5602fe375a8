/**
 * tools/bench/policy-webgpu.mjs runs end to end on the tiny GPT-2 fixture: a 2×16 train step and
 * three train variants (fp32, the plain and the subgroup-matrix f16 kernels, each recording its
 * kernel), the generation section (2 new tokens at batches 1 and 2, greedy and sampled, the engine and the
 * tfjs WebGPU path at batch 1), with the JSON its header documents. Timings are only checked to
 * be positive and finite. Needs a WebGPU adapter (Mesa's lavapipe on a CPU machine:
 * VK_DRIVER_FILES=/usr/share/vulkan/icd.d/lvp_icd.json) and the built @vlm-grpo/policy-webgpu and
 * @vlm-grpo/vlm (`tools:test` builds them). Without an adapter the run is skipped with the
 * reason, except under CI (env `CI` set), where it fails, as the policy-webgpu package tests do.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./policy-webgpu.mjs', import.meta.url));
const fixture = fileURLToPath(new URL('../../packages/vlm/src/__fixtures__/tiny-gpt2', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'vlm-grpo-policy-webgpu-bench-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const positiveFinite = (value) => typeof value === 'number' && Number.isFinite(value) && value > 0;

describe('tools/bench/policy-webgpu.mjs', () => {
  it('times a train step and generation (engine and tfjs-webgpu) of the tiny fixture and writes the documented JSON', (context) => {
    const out = join(scratch, 'policy-webgpu.json');
    const flags = ['--models', fixture, '--batch', '2', '--tokens', '16', '--repeats', '1', '--new-tokens', '2', '--gen-batches', '1,2', '--train-variants', 'fp32,f16-plain,f16-sgm', '--out', out];
    const run = spawnSync(process.execPath, [script, ...flags], { encoding: 'utf8' });
    if (run.status !== 0 && run.stderr.includes('WEBGPU_UNAVAILABLE') && !process.env.CI) {
      console.warn(`[tools] policy-webgpu bench test skipped: no WebGPU adapter (${run.stderr.trim().split('\n').find((line) => line.includes('Error')) ?? 'WEBGPU_UNAVAILABLE'})`);
      context.skip();
    }
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(readFileSync(out, 'utf8'));
    expect(typeof report.device).toBe('string');
    expect(report.options).toMatchObject({ sections: ['train', 'generate'], genBatches: [1, 2], promptTokens: 8, newTokens: 2, decodings: ['greedy', 'sampled'] });
    expect(report.results).toHaveLength(1);
    const [result] = report.results;
    expect(result).toMatchObject({ model: 'tiny-gpt2', params: 59_520, batch: 2, tokens: 16 });
    for (const key of ['trainStepMs', 'forwardMs', 'tflops']) expect(positiveFinite(result[key]), `${key} = ${result[key]}`).toBe(true);
    // each variant records the matmul kernel it ran; the tensor-core one is skipped with the reason where the adapter lacks it (lavapipe)
    const [fp32, plain, sgm] = result.trainVariants;
    expect(fp32).toMatchObject({ variant: 'fp32', matmulKernel: 'fp32', matmulKernelNote: null });
    expect(plain).toMatchObject({ variant: 'f16-plain', precision: 'f16', f16Matmul: 'plain', matmulKernel: 'f16-plain' });
    expect(positiveFinite(plain.trainStepMs)).toBe(true);
    expect(plain.logProbMaxAbsDiffVsFirst).toBeGreaterThan(0);
    if (sgm.skipped) expect(sgm.skipped).toMatch(/subgroup-matrix kernel cannot run here/u);
    else expect(sgm).toMatchObject({ variant: 'f16-sgm', matmulKernel: 'f16-subgroup-matrix', matmulKernelNote: null });
    expect(run.stdout).toMatch(/matmul kernel: f16-plain \(f16Matmul: 'plain' asked for the plain kernel\)/u);
    expect(result.generation.map((g) => `${g.engine} ${g.decoding} b${g.batch}`)).toEqual([
      'policy-webgpu greedy b1',
      'policy-webgpu sampled b1',
      'policy-webgpu greedy b2',
      'policy-webgpu sampled b2',
      'tfjs-webgpu greedy b1',
      'tfjs-webgpu sampled b1',
    ]);
    for (const g of result.generation) {
      expect(Object.keys(g).sort()).toEqual(['batch', 'decoding', 'engine', 'msPerCall', 'newTokens', 'promptTokens', 'repeats', 'timeToFirstTokenMs', 'tokensPerS']);
      expect(g).toMatchObject({ promptTokens: 8, newTokens: 2, repeats: 1 });
      for (const key of ['msPerCall', 'tokensPerS', 'timeToFirstTokenMs']) expect(positiveFinite(g[key]), `${g.engine} ${g.decoding} b${g.batch} ${key} = ${g[key]}`).toBe(true);
      expect(g.tokensPerS).toBeCloseTo((g.batch * g.newTokens * 1000) / g.msPerCall, 6);
    }
    expect(run.stdout).toMatch(/engine +decoding +batch +tokens\/s +ms\/call +first token ms\n +policy-webgpu +greedy +1 +\d/u);
  }, 240_000);

  it('rejects an unknown decoding before touching the GPU', () => {
    const run = spawnSync(process.execPath, [script, '--decoding', 'beam'], { encoding: 'utf8' });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('--decoding: expected a comma-separated list of greedy, sampled, received "beam"');
  });
});
