/**
 * The soak benchmark runs end to end on the CPU for a few iterations, with W&B tracking against
 * its flaky stand-in server: it reports RSS samples, slopes and the server's request counts.
 * Memory and timings are not asserted (they are measured in BENCHMARKS.md, "Soak").
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const script = fileURLToPath(new URL('./soak.mjs', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'vlm-grpo-soak-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('tools/bench/soak.mjs', () => {
  it('trains a few iterations against a server that fails half its requests, and reports the RSS slope', () => {
    const json = join(scratch, 'soak.json');
    const samples = join(scratch, 'samples.jsonl');
    const run = spawnSync(process.execPath, [script, '--iterations', '3', '--warmup', '0', '--tracking', 'flaky', '--json', json, '--samples', samples, '--', '--device', 'cpu', '--training_settings.validation_every', '2'], { encoding: 'utf8', env: { ...process.env, LD_PRELOAD: '', MALLOC_ARENA_MAX: '2' } });
    expect(run.status, run.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(json, 'utf8'));
    expect(summary.status).toBe('completed');
    expect(summary.iterations).toEqual({ planned: 3, completed: 3, warmup: 0 });
    expect(Number.isFinite(summary.slopeMiBPer1000Iterations.rss)).toBe(true);
    expect(Number.isFinite(summary.slopeMiBPer1000Iterations.native)).toBe(true);
    expect(summary.environment.allocator).toBe(process.platform === 'linux' ? 'system malloc (MALLOC_ARENA_MAX=2)' : 'system malloc');
    expect(summary.rssMiB.max).toBeGreaterThan(0);
    expect(summary.tracking.server.requests).toBeGreaterThan(2);
    expect(summary.tracking.server.failed).toBeGreaterThan(0);
    const rows = readFileSync(samples, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(rows.map((row) => row.iteration)).toEqual([1, 2, 3]);
    for (const row of rows) expect(row.nativeMiB).toBeCloseTo(row.rssMiB - row.externalMiB, 6);
  }, 300_000);
});
