/**
 * End-to-end tests on the tiny models: the policy is the vlm package's tiny GPT-2 fixture
 * (read in place from packages/vlm), diffusion and CLIP are the embedded tiny models of
 * data/models. The CLI tests spawn `src/cli.ts` in a child process (TypeScript run through
 * __fixtures__/ts-loader.mjs), kill it, and resume it.
 */
import { TINY_DEFAULT_CONFIG } from './__fixtures__/test-components.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseValidationResult } from '@vlm-grpo/eval';
import { decodeTrainerState } from '@vlm-grpo/grpo';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { finalResultsSchema, metricsLineSchema, trainerStateSchema } from './results/schemas.js';
import { checkpointManifestSchema } from './runtime/checkpoints.js';
import { Logger } from './runtime/logger.js';
import type { TrainerConfigInput } from './config/config-schema.js';
import { VLMGRPOSystem } from './vlm-grpo-system.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, '../../..');
const tinyPolicy = join(here, '..', '..', '..', 'packages', 'vlm', 'src', '__fixtures__', 'tiny-gpt2');

/** The tiny settings of the brief: batch 2, G 2, 1 diffusion step, 16 new tokens. */
const tiny = (output: string, iterations: number) => ({
  model_settings: { vlm_model: tinyPolicy, device: 'cpu' },
  training_settings: { num_iterations: iterations, batch_size: 2, num_generations: 2, validation_every: 2, checkpoint_every: 2, keep_checkpoints: 2, learning_rate: 1e-3, seed: 7 },
  generation_settings: { max_new_tokens: 16 },
  diffusion_settings: { steps: 1 },
  validation_settings: { num_prompts: 2 },
  output_settings: { output_dir: output },
  logging_settings: { progress_bar: 'never' },
}) satisfies TrainerConfigInput;

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-grpo-e2e-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

const lines = async (path: string) => (await readFile(path, 'utf8')).split('\n').filter((line) => line !== '').map((line) => metricsLineSchema.parse(JSON.parse(line)));

describe('end to end on the tiny models', { timeout: 180_000 }, () => {
  it('runs 3 iterations with validation; every output file matches its schema', async () => {
    const output = join(folder, 'e2e');
    const config = tiny(output, 3);
    config.training_settings.checkpoint_every = 1;
    const system = new VLMGRPOSystem(config, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, logger: new Logger({ level: 'DEBUG', console: null }) });
    const results = await system.runTraining();
    await system.dispose();

    const final = finalResultsSchema.parse(JSON.parse(await readFile(join(output, 'final_results.json'), 'utf8')));
    expect(final).toEqual(results);
    expect(final.status).toBe('completed');
    expect(final.devices.diffusion).toBe('cpu');
    expect(final.files).toMatchObject({ log: 'vlm_grpo_training.log', metrics: 'metrics.jsonl', best_model: 'best_model', checkpoints: ['checkpoint_iter_2', 'checkpoint_iter_3'], validations: ['validation_iter_0.json', 'validation_iter_2.json', 'validation_iter_3.json'], report: 'report.html' });
    const perIteration = final.timings_s.per_iteration!;
    for (const stage of ['generation', 'rendering', 'scoring', 'update'] as const) expect(perIteration[stage]).toBeGreaterThan(0);

    const metrics = await lines(join(output, 'metrics.jsonl'));
    expect(metrics.map((line) => line.iteration)).toEqual([1, 2, 3]);
    for (const line of metrics) {
      expect(line.samples).toEqual({ total: 4, failed: 0 });
      expect(Number.isFinite(line.metrics['reward'])).toBe(true);
      expect(line.metrics['rewards/relevance_to_original/mean']).toBeGreaterThan(0);
    }
    for (const iteration of [2, 3]) {
      const validation = parseValidationResult(JSON.parse(await readFile(join(output, `validation_iter_${iteration}.json`), 'utf8')));
      expect(validation.counts).toMatchObject({ prompts: 2, evaluated: 2, failed: 0 });
      expect(Object.keys(validation.metrics.enhanced.components).sort()).toEqual(['length_in_range', 'quality', 'relevance_to_original', 'similarity', 'subject_kept']);
      const sheet = await readFile(join(output, `contact_sheet_iter_${iteration}.png`));
      expect([...sheet.subarray(0, 4)]).toEqual([0x89, 0x50, 0x4e, 0x47]);
    }
    expect(await readFile(join(output, 'report.html'), 'utf8')).toContain('<svg');
    for (const name of ['checkpoint_iter_2', 'checkpoint_iter_3']) {
      const dir = join(output, name);
      const manifest = checkpointManifestSchema.parse(JSON.parse(await readFile(join(dir, 'checkpoint.json'), 'utf8')));
      expect(manifest.files.map((file) => file.path)).toEqual(expect.arrayContaining(['policy/config.json', 'policy/model.safetensors', 'policy/tokenizer.json', 'state.json', 'trainer_state.bin', 'trainer_state.json']));
      const state = trainerStateSchema.parse(JSON.parse(await readFile(join(dir, 'state.json'), 'utf8')));
      expect(state.iteration).toBe(manifest.iteration);
      const grpo = decodeTrainerState(JSON.parse(await readFile(join(dir, 'trainer_state.json'), 'utf8')) as Record<string, unknown>, new Uint8Array(await readFile(join(dir, 'trainer_state.bin'))));
      expect(grpo.step).toBe(manifest.iteration);
      expect(grpo.reference).not.toBeNull();
      expect(Object.keys(grpo.policy.parameters)).toContain('transformer.wte.weight');
    }
    const best = await readdir(join(output, 'best_model'));
    expect(best).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json']));
    const log = await readFile(join(output, 'vlm_grpo_training.log'), 'utf8');
    expect(log).toMatch(/^\S+ INFO loading data/mu);
    expect(log).toMatch(/DEBUG iteration 1: /u);
    expect(log).toMatch(/INFO devices: policy \w+, diffusion cpu, CLIP cpu/u);
  });
});

describe('the CLI in a child process', { timeout: 240_000 }, () => {
  const cli = (args: string[]): ChildProcess =>
    spawn(process.execPath, ['--conditions=@vlm-grpo/source', '--import', join(here, '__fixtures__', 'ts-register.mjs'), join(here, 'cli.ts'), ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = (child: ChildProcess): Promise<{ code: number | null; signal: string | null; output: string }> =>
    new Promise((done) => {
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('exit', (code, signal) => done({ code, signal, output }));
    });
  const waitFor = async (predicate: () => boolean, what: string, timeoutMs = 120_000) => {
    const started = Date.now();
    while (!predicate()) {
      if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
      await new Promise((wake) => setTimeout(wake, 25));
    }
  };

  it('resumes a run killed with SIGKILL mid-iteration to the same policy weights as an uninterrupted run', async () => {
    const straightConfig = join(folder, 'straight.json');
    const killedConfig = join(folder, 'killed.json');
    await writeFile(straightConfig, JSON.stringify(tiny(join(folder, 'straight'), 4)));
    await writeFile(killedConfig, JSON.stringify(tiny(join(folder, 'killed'), 4)));

    const straight = await exit(cli(['train', '--config', straightConfig]));
    expect(straight.code, straight.output).toBe(0);

    const child = cli(['train', '--config', killedConfig]);
    const killed = exit(child);
    const checkpoint2 = join(folder, 'killed', 'checkpoint_iter_2', 'checkpoint.json');
    await waitFor(() => existsSync(checkpoint2), 'checkpoint_iter_2');
    // Iteration 3 is running now (an iteration takes about a second here).
    await new Promise((wake) => setTimeout(wake, 150));
    child.kill('SIGKILL');
    expect((await killed).signal).toBe('SIGKILL');
    expect(existsSync(join(folder, 'killed', 'checkpoint_iter_4'))).toBe(false);

    const resumed = await exit(cli(['train', '--config', killedConfig, '--resume']));
    expect(resumed.code, resumed.output).toBe(0);
    expect(resumed.output).toContain('resuming from');

    const weights = (run: string) => readFile(join(folder, run, 'checkpoint_iter_4', 'policy', 'model.safetensors'));
    expect(Buffer.compare(await weights('killed'), await weights('straight'))).toBe(0);
    const start = await readFile(join(tinyPolicy, 'model.safetensors'));
    expect(Buffer.compare(await weights('straight'), start)).not.toBe(0);
    const resumedLines = await lines(join(folder, 'killed', 'metrics.jsonl'));
    expect(resumedLines.map((line) => line.iteration)).toEqual([1, 2, 3, 4]);
    expect(resumedLines.map((line) => line.metrics['reward'])).toEqual((await lines(join(folder, 'straight', 'metrics.jsonl'))).map((line) => line.metrics['reward']));
    const final = finalResultsSchema.parse(JSON.parse(await readFile(join(folder, 'killed', 'final_results.json'), 'utf8')));
    expect(final.iterations).toEqual({ completed: 4, planned: 4, resumed_from: 2 });
  });

  it('finishes the current step on SIGINT, writes a checkpoint and exits 0', async () => {
    const config = join(folder, 'sigint.json');
    await writeFile(config, JSON.stringify(tiny(join(folder, 'sigint'), 50)));
    const child = cli(['train', '--config', config, '--training_settings.checkpoint_every', '100']);
    const done = exit(child);
    const metrics = join(folder, 'sigint', 'metrics.jsonl');
    await waitFor(() => existsSync(metrics), 'the first iteration');
    child.kill('SIGINT');
    const result = await done;
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain('SIGINT received');
    const final = finalResultsSchema.parse(JSON.parse(await readFile(join(folder, 'sigint', 'final_results.json'), 'utf8')));
    expect(final.status).toBe('stopped');
    const [checkpoint] = final.files.checkpoints;
    const manifest = checkpointManifestSchema.parse(JSON.parse(await readFile(join(folder, 'sigint', checkpoint!, 'checkpoint.json'), 'utf8')));
    expect(manifest.reason).toBe('signal');
    expect(manifest.iteration).toBe(final.iterations.completed);
  });

  it('prints usage errors with exit status 2 and help with 0', async () => {
    const bad = await exit(cli(['trian']));
    expect(bad.code).toBe(2);
    expect(bad.output).toContain('unknown command "trian"');
    const help = await exit(cli(['--help']));
    expect(help.code).toBe(0);
    expect(help.output).toContain('training_settings.learning_rate');
    const missing = await exit(cli(['enhance', '--model_settings.vlm_model', 'data/models/does-not-exist', 'a cat']));
    expect(missing.code).toBe(1);
    expect(missing.output).toContain('TRAINER_COMPONENT_FAILED');
  });
});
