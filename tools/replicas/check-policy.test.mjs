/**
 * check-policy.mjs (the real-size replicas against transformers' golden outputs) on the tiny
 * fixtures: both engines pass, and a golden logit moved by 1e-3 makes it fail with exit 1.
 * The WebGPU run takes any adapter (lavapipe in CI).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('./check-policy.mjs', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/smollm2-135m-instruct/', import.meta.url));
const check = (...args) => spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8', timeout: 240_000 });

describe('check-policy.mjs', () => {
  it.each(['tfjs', 'webgpu'])('passes the SmolLM2 layout on %s against transformers', (engine) => {
    const run = check(FIXTURE, '--engine', engine);
    expect(run.stdout).toMatch(/matches transformers \(tolerance 0\.0001\)/u);
    expect(run.stdout).toMatch(/prompt 1 \(81 tokens\): .* max \|Δ\| \d\.\d\de-[5-9]; greedy equal/u);
    expect(run.status).toBe(0);
  }, 240_000);

  it('fails (exit 1) when a golden logit is off by 1e-3', () => {
    const folder = mkdtempSync(join(tmpdir(), 'check-policy-'));
    try {
      cpSync(FIXTURE, folder, { recursive: true });
      const file = join(folder, 'ref_logits.f32');
      const golden = new Float32Array(readFileSync(file).buffer.slice(0));
      golden[golden.length - 5] += 1e-3;
      writeFileSync(file, Buffer.from(golden.buffer));
      const run = check(folder, '--engine', 'tfjs');
      expect(run.stdout).toMatch(/DOES NOT MATCH/u);
      expect(run.status).toBe(1);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  }, 240_000);
});
