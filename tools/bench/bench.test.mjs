/**
 * The benchmark suite runs end to end on the CPU (tiny suite, one repeat, two trainer iterations):
 * every stage reports its measures, and the table comes last. Timings are not asserted.
 * Needs the packages built (`tools:test` depends on their `build`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./bench.mjs', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'vlm-grpo-bench-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('tools/bench/bench.mjs', () => {
  it('times every stage of the tiny suite on the CPU and writes JSON and a table', () => {
    const json = join(scratch, 'bench.json');
    const run = spawnSync(process.execPath, [script, '--skip-build', '--repeats', '1', '--iterations', '2', '--json', json], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const { environment, results } = JSON.parse(readFileSync(json, 'utf8'));
    expect(environment.command).toContain('--iterations 2');
    expect(results.map((r) => r.stage)).toEqual(['policy', 'sd', 'clip', 'iteration']);
    const [policy, sd, clip, iteration] = results.map((r) => r.byDevice.cpu);
    for (const r of [policy, sd, clip, iteration]) expect(r.error).toBeUndefined();
    expect(policy).toMatchObject({ backend: 'wasm', params: 1_246_336, trainShape: '8×64' });
    expect(policy.trainStepMs).toBeGreaterThan(0);
    expect(policy.check).toHaveLength(32);
    expect(sd).toMatchObject({ device: 'cpu', size: '64×64' });
    expect(sd.check).toHaveLength(256);
    expect(clip.rows.map((row) => row.batch)).toEqual([1, 8, 32, 64]);
    expect(iteration.iterations).toBe(2);
    expect(Object.keys(iteration.seconds)).toEqual(['generation', 'rendering', 'scoring', 'update', 'total']);
    const lines = run.stdout.trim().split('\n');
    expect(lines.at(-1)).toMatch(/^\| iteration default config \| +gen \/ render \/ score \/ update s \|/u);
  }, 240_000);

  it('suite iteration: times one GRPO iteration per stage with the tiny stand-ins, and says why PyTorch did not run', () => {
    const json = join(scratch, 'iteration.json');
    // No CUDA here: the PyTorch reference is skipped with its reason (the GPU machine runs it).
    const runDir = join(scratch, 'iteration-run');
    const run = spawnSync(process.execPath, [script, '--suite', 'iteration', '--skip-build', '--repeats', '1', '--iterations', '2', '--run-dir', runDir, '--json', json], { encoding: 'utf8' });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(readFileSync(json, 'utf8'));
    // The trainer's log streams as it runs, our stage times print before PyTorch starts, and
    // --run-dir keeps the run's metrics (a device call cut at its limit still has them).
    expect(run.stderr).toMatch(/^ {2}trainer: .*iter 2\/2/mu);
    expect(run.stderr).toMatch(/^ {2}ours per stage \(mean after the first\): generation \d+\.\d{3} s, rendering /mu);
    expect(run.stderr.indexOf('ours per stage')).toBeLessThan(run.stderr.indexOf('PyTorch reference'));
    expect(readFileSync(join(runDir, 'metrics.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
    expect(result.environment.command).toContain('--suite iteration');
    expect(result.ours.iterations).toBe(2);
    expect(Object.keys(result.ours.seconds)).toEqual(['generation', 'rendering', 'scoring', 'update', 'total']);
    for (const value of Object.values(result.ours.seconds)) expect(value).toBeGreaterThan(0);
    expect(result.ours.completionLength).toBeGreaterThan(0);
    expect(result.torch.skipped ?? result.torch.seconds).toBeTruthy();
    if (result.torch.skipped) expect(run.stderr).toContain(`PyTorch reference not run: ${result.torch.skipped}`);
    const lines = run.stdout.trim().split('\n');
    expect(lines.at(-7)).toMatch(/^\| stage \| ours \(cpu\) \| PyTorch/u);
    expect(lines.at(-1)).toMatch(/^\| total \| \d+\.\d{3} \| /u);
  }, 240_000);

  it('rejects an unknown stage', () => {
    const run = spawnSync(process.execPath, [script, '--stage', 'nope'], { encoding: 'utf8' });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('unknown stage nope');
  });
});
