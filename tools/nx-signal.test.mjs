/**
 * Ctrl-C through `npx nx run trainer:train`, as a user's terminal sends it: SIGINT to the whole
 * process group (Nx and the trainer under it). Nx forwards a stop to the trainer and exits at
 * once, closing the trainer's console pipes; the trainer must still finish its iteration, write a
 * checkpoint and `final_results.json` (status `stopped`), and say in its log how to continue.
 * Runs the built trainer (tools:test depends on ^build), with Nx's task dependencies excluded so
 * that no build starts inside the test.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const scratch = mkdtempSync(join(tmpdir(), 'vlm-grpo-nx-signal-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
async function waitFor(check, what, seconds) {
  for (let i = 0; i < seconds * 4; i += 1) {
    if (check()) return;
    await sleep(250);
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`);
}

describe('Ctrl-C through npx nx run trainer:train', () => {
  it.skipIf(process.platform === 'win32')('stops after the current iteration with a checkpoint and final_results.json, though Nx exits first', async () => {
    const output = join(scratch, 'run');
    const config = join(scratch, 'config.json');
    writeFileSync(config, JSON.stringify({
      model_settings: { vlm_model: join(root, 'packages', 'vlm', 'src', '__fixtures__', 'tiny-gpt2'), device: 'cpu' },
      training_settings: { num_iterations: 200, batch_size: 2, num_generations: 2, validation_every: 0, checkpoint_every: 1000, learning_rate: 1e-3, seed: 7 },
      generation_settings: { max_new_tokens: 16 },
      diffusion_settings: { steps: 1 },
      output_settings: { output_dir: output },
      logging_settings: { progress_bar: 'never' },
    }));
    // A new process group, as a shell gives a foreground job; the terminal's Ctrl-C goes to all of it.
    const nx = spawn('npx', ['nx', 'run', 'trainer:train', '--excludeTaskDependencies', '--config', config], {
      cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NX_DAEMON: 'false', NX_TUI: 'false' },
    });
    let console = '';
    nx.stdout.on('data', (chunk) => { console += chunk; });
    nx.stderr.on('data', (chunk) => { console += chunk; });
    const nxExit = new Promise((done) => nx.on('exit', (code, signal) => done({ code, signal })));
    try {
      await waitFor(() => existsSync(join(output, 'metrics.jsonl')), `the first iteration (console: ${console.slice(-2000)})`, 150);
      process.kill(-nx.pid, 'SIGINT');
      await nxExit;
      const finalPath = join(output, 'final_results.json');
      await waitFor(() => existsSync(finalPath), 'final_results.json after the stop', 120);
      const final = JSON.parse(readFileSync(finalPath, 'utf8'));
      expect(final.status, JSON.stringify(final)).toBe('stopped');
      expect(final.message).toContain('continue with --resume');
      const completed = final.iterations.completed;
      expect(completed).toBeGreaterThanOrEqual(1);
      expect(completed).toBeLessThan(200);
      const checkpoints = readdirSync(output).filter((name) => name.startsWith('checkpoint_iter_'));
      expect(checkpoints).toEqual([`checkpoint_iter_${completed}`]);
      const manifest = JSON.parse(readFileSync(join(output, checkpoints[0], 'checkpoint.json'), 'utf8'));
      expect(manifest).toMatchObject({ reason: 'signal', iteration: completed });
      const metrics = readFileSync(join(output, 'metrics.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line).iteration);
      expect(metrics).toEqual(Array.from({ length: completed }, (_, i) => i + 1));
      expect(readFileSync(join(output, 'vlm_grpo_training.log'), 'utf8')).toMatch(/stopped by SIG(INT|TERM) after iteration \d+; continue with --resume/u);
      // The run folder is free again: no live lock is left behind.
      await waitFor(() => !existsSync(join(output, '.vlm-grpo-run.lock')), 'the run lock (.vlm-grpo-run.lock) to be released', 30);
    } finally {
      try {
        process.kill(-nx.pid, 'SIGKILL');
      } catch {
        // the group is gone
      }
    }
  }, 330_000);
});
