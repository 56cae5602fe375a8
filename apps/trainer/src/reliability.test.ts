/**
 * What a hostile or unlucky user can do to a run, and what must survive it (issue 19): errors in
 * the middle of training, a full disk while saving the best model, a diverged (NaN) policy,
 * overflowing rewards, damaged checkpoints, resuming with other settings, two runs in one folder,
 * output folders that cannot be written, empty data files. Stand-in models (test-components.ts).
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { testComponents, type UnigramPolicy, TINY_DEFAULT_CONFIG } from './__fixtures__/test-components.js';
import type { TrainerConfig } from './config/config-schema.js';
import { finalResultsSchema, metricsLineSchema } from './results/schemas.js';
import { checkpointManifestSchema } from './runtime/checkpoints.js';
import { Logger, type LogLevel } from './runtime/logger.js';
import { StopSignal } from './runtime/stop-signal.js';
import type { SystemComponents } from './system/ports.js';
import { RUN_CONFIG_FILE, VLMGRPOSystem } from './vlm-grpo-system.js';

/** The WebAssembly.RuntimeError of Node.js (not in this project's TypeScript libs). */
const WasmRuntimeError = (globalThis as unknown as { WebAssembly: { RuntimeError: new (message: string) => Error } }).WebAssembly.RuntimeError;

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-grpo-reliability-'));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

function captureLogger(): { logger: Logger; lines: { level: LogLevel; line: string }[] } {
  const lines: { level: LogLevel; line: string }[] = [];
  return { logger: new Logger({ level: 'DEBUG', console: { write: (line, level) => lines.push({ level, line }) } }), lines };
}

function tiny(output: string, extra: Record<string, unknown> = {}) {
  return {
    'output_settings.output_dir': output,
    'training_settings.num_iterations': 3,
    'training_settings.batch_size': 2,
    'training_settings.num_generations': 2,
    'training_settings.validation_every': 2,
    'training_settings.checkpoint_every': 1,
    'training_settings.keep_checkpoints': 3,
    'training_settings.learning_rate': 0.05,
    'generation_settings.max_new_tokens': 16,
    'validation_settings.num_prompts': 4,
    'logging_settings.progress_bar': 'never',
    ...extra,
  };
}

/** testComponents, with `patch` applied to the loaded components. */
function patched(patch: (components: SystemComponents & { policy: UnigramPolicy }) => void, policies: UnigramPolicy[] = []) {
  const base = testComponents({ policies });
  return async (config: TrainerConfig, logger: Logger, scope?: string) => {
    const components = (await base(config, logger, scope)) as SystemComponents & { policy: UnigramPolicy };
    patch(components);
    return components;
  };
}

const readJson = async (path: string) => JSON.parse(await readFile(path, 'utf8')) as unknown;
const metricLines = async (path: string) => (await readFile(path, 'utf8')).split('\n').filter((line) => line !== '').map((line) => metricsLineSchema.parse(JSON.parse(line)));

describe('failures keep every completed iteration', () => {
  it('a full disk while saving the best model: checkpoint of the last iteration, final_results failed with the reason, no temporary folder', async () => {
    const output = join(folder, 'run');
    let failSaves = false;
    let calls = 0;
    const { logger, lines } = captureLogger();
    const system = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
      baseDirectory: repoRoot,
      logger,
      overrides: tiny(output, { 'training_settings.checkpoint_every': 5 }),
      loadComponents: patched((components) => {
        const save = components.policy.save.bind(components.policy);
        components.policy.save = async (directory) => {
          if (failSaves && directory.includes('best_model.tmp-')) {
            await mkdir(directory, { recursive: true });
            await writeFile(join(directory, 'weights.json'), '[0.1, 0.');
            throw Object.assign(new Error(`ENOSPC: no space left on device, write '${directory}/weights.json'`), { code: 'ENOSPC' });
          }
          await save(directory);
        };
        // Validation scores grow with every call, so the validation of iteration 2 is a new best.
        const score = components.imageRewards!.components.bind(components.imageRewards);
        components.imageRewards!.components = async (...args) => (await score(...args)).map((item) => (item instanceof Error ? item : { ...item, quality: (calls += 1) }));
      }),
      onIteration: (iteration) => {
        if (iteration === 2) failSaves = true;
      },
    });
    const error = await system.runTraining().then(() => undefined, (caught: unknown) => caught);
    await system.dispose();
    expect(error).toMatchObject({ code: 'TRAINER_RUN_FAILED' });
    expect((error as Error).message).toContain('ENOSPC');
    const names = await readdir(output);
    expect(names.filter((name) => name.startsWith('best_model.'))).toEqual([]);
    // Iteration 2 is kept although the scheduled checkpoint (every 5) was not due.
    expect(names).toContain('checkpoint_iter_2');
    const manifest = checkpointManifestSchema.parse(await readJson(join(output, 'checkpoint_iter_2', 'checkpoint.json')));
    expect(manifest.reason).toBe('error');
    const final = finalResultsSchema.parse(await readJson(join(output, 'final_results.json')));
    expect(final.status).toBe('failed');
    expect(final.message).toContain('could not save the best model');
    expect(final.message).toContain('a checkpoint of iteration 2 was written; continue with --resume');
    expect(final.iterations.completed).toBe(2);
    // The baseline's best model is the one kept, whole.
    expect((JSON.parse(await readFile(join(output, 'best_model', 'weights.json'), 'utf8')) as unknown[]).every((value) => typeof value === 'number')).toBe(true);
    expect(lines.some((line) => line.level === 'ERROR' && line.line.includes('the run failed after iteration 2'))).toBe(true);

    // The run continues from there.
    const resumed = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, resume: true, logger: captureLogger().logger, overrides: tiny(output, { 'training_settings.checkpoint_every': 5 }), loadComponents: testComponents() });
    const results = await resumed.runTraining();
    await resumed.dispose();
    expect(results).toMatchObject({ status: 'completed', iterations: { completed: 3, resumed_from: 2 } });
  });

  it('a diverged (NaN) policy is never saved as best_model, nor checkpointed', async () => {
    const output = join(folder, 'nan');
    const policies: UnigramPolicy[] = [];
    const system = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
      baseDirectory: repoRoot,
      logger: captureLogger().logger,
      overrides: tiny(output),
      loadComponents: patched(() => undefined, policies),
      onIteration: (iteration) => {
        if (iteration === 2) policies[0]!.weights.assign(policies[0]!.weights.mul(Number.NaN));
      },
    });
    const error = await system.runTraining().then(() => undefined, (caught: unknown) => caught);
    await system.dispose();
    expect((error as Error).message).toMatch(/holds NaN or ±Infinity \(training diverged\); it is not saved as best_model/u);
    const best = JSON.parse(await readFile(join(output, 'best_model', 'weights.json'), 'utf8')) as (number | null)[];
    expect(best.every((value) => typeof value === 'number' && Number.isFinite(value))).toBe(true);
    const names = await readdir(output);
    expect(names.filter((name) => name.startsWith('checkpoint_iter_'))).toEqual(['checkpoint_iter_1']);
    const final = finalResultsSchema.parse(await readJson(join(output, 'final_results.json')));
    expect(final.status).toBe('failed');
    expect(final.message).toContain('the policy holds non-finite values and is not checkpointed');
  });

  it('a WASM backend abort (out of memory) ends the run at once with the explanation, keeping the last checkpoint', async () => {
    const output = join(folder, 'abort');
    let armed = false; // from iteration 2 on: the next forwardTrain aborts the module
    let dead = false;
    let callsAfterAbort = 0;
    const system = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
      baseDirectory: repoRoot,
      logger: captureLogger().logger,
      overrides: tiny(output, { 'training_settings.validation_every': 0 }),
      loadComponents: patched((components) => {
        // Emscripten's abort(): every later call into the module fails the same way.
        const policy = components.policy;
        for (const method of ['forwardTrain', 'backward', 'logProbs', 'sample', 'getOptimizerState'] as const) {
          const original = (policy[method] as (...args: unknown[]) => unknown).bind(policy);
          (policy as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
            if (armed && method === 'forwardTrain') dead = true;
            if (dead) {
              callsAfterAbort += 1;
              throw new WasmRuntimeError('Aborted(). Build with -sASSERTIONS for more info.');
            }
            return original(...args);
          };
        }
      }),
      onIteration: (iteration) => {
        if (iteration === 1) armed = true;
      },
    });
    const error = await system.runTraining().then(() => undefined, (caught: unknown) => caught);
    await system.dispose();
    expect(error).toMatchObject({ code: 'TRAINER_RUN_FAILED' });
    expect((error as Error).message).toMatch(/TRAINER_POLICY_BACKEND_ABORTED: iteration 2: the policy's tfjs \S+ backend aborted \("Aborted\(\)\. Build with -sASSERTIONS/u);
    expect((error as Error).message).toMatch(/WASM holds at most 4 GiB; tfjs held [\d.]+ GiB in \d+ tensors\).*gradient_accumulation_steps/u);
    // Stopped at the first failing call: no more iterations tried against a dead module.
    expect(callsAfterAbort).toBe(1);
    expect(await metricLines(join(output, 'metrics.jsonl'))).toHaveLength(1);
    const final = finalResultsSchema.parse(await readJson(join(output, 'final_results.json')));
    expect(final.status).toBe('failed');
    expect(final.message).toContain('the checkpoint of iteration 1 is on disk; continue with --resume');
    expect((await readdir(output)).filter((name) => name.startsWith('checkpoint_iter_'))).toEqual(['checkpoint_iter_1']);
  });

  it('overflowing combined rewards are failed samples (max_failure_fraction applies), never logged as reward 0', async () => {
    const output = join(folder, 'overflow');
    const system = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
      baseDirectory: repoRoot,
      logger: captureLogger().logger,
      overrides: tiny(output, { 'reward_settings.quality.weight': 1e308, 'reward_settings.subject_kept.weight': 1e308, 'training_settings.max_failed_iterations': 2, 'training_settings.validation_every': 0 }),
      loadComponents: testComponents(),
    });
    const error = await system.runTraining().then(() => undefined, (caught: unknown) => caught);
    await system.dispose();
    expect(error).toMatchObject({ code: 'TRAINER_TOO_MANY_FAILURES' });
    expect((error as Error).message).toContain('(check the reward_settings weights)');
    const lines = await metricLines(join(output, 'metrics.jsonl'));
    expect(lines).toHaveLength(2);
    for (const line of lines) {
      expect(line.samples).toEqual({ total: 4, failed: 4 });
      expect(line.metrics['reward']).toBeUndefined();
      expect(line.failures[0]).toMatchObject({ stage: 'rewards' });
    }
    const final = finalResultsSchema.parse(await readJson(join(output, 'final_results.json')));
    expect(final).toMatchObject({ status: 'failed', failures: { failed_samples: 8, total_samples: 8 } });
  });
});

describe('resume', () => {
  it("resumes with the run's own settings, logs every override, and refuses changed hyperparameters unless allowed", async () => {
    const output = join(folder, 'resume');
    const stop = new StopSignal();
    const first = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
      baseDirectory: repoRoot,
      logger: captureLogger().logger,
      stopSignal: stop,
      overrides: tiny(output, { 'training_settings.num_iterations': 4, 'training_settings.validation_every': 0 }),
      loadComponents: testComponents(),
      onIteration: (iteration) => {
        if (iteration === 1) stop.request('SIGINT');
      },
    });
    expect((await first.runTraining()).status).toBe('stopped');
    await first.dispose();
    expect((await readJson(join(output, RUN_CONFIG_FILE)) as { training_settings: { num_iterations: number } }).training_settings.num_iterations).toBe(4);
    expect(await readdir(join(output, 'checkpoint_iter_1'))).toContain(RUN_CONFIG_FILE);

    // Changed hyperparameters: refused, naming the key, nothing touched.
    const refused = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, resume: true, logger: captureLogger().logger, overrides: { 'output_settings.output_dir': output, 'training_settings.learning_rate': 0.5, 'training_settings.num_generations': 4 }, loadComponents: testComponents() });
    const error = (await refused.runTraining().catch((caught: unknown) => caught)) as Error;
    await refused.dispose();
    expect(error).toMatchObject({ code: 'TRAINER_RESUME_CONFIG_CHANGED' });
    expect(error.message).toContain('training_settings.learning_rate: 0.05 → 0.5');
    expect(error.message).toContain('training_settings.num_generations: 2 → 4');
    expect(error.message).toContain('--allow-config-change');

    // No flags but the folder: the first run's settings (4 iterations, batch 2), not the defaults.
    const { logger, lines } = captureLogger();
    const plain = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, resume: true, logger, overrides: { 'output_settings.output_dir': output, 'training_settings.num_iterations': 5, 'training_settings.gradient_checkpointing': true }, loadComponents: testComponents() });
    const results = await plain.runTraining();
    await plain.dispose();
    expect(results.iterations).toEqual({ completed: 5, planned: 5, resumed_from: 1 });
    expect((await metricLines(join(output, 'metrics.jsonl'))).map((line) => line.samples.total)).toEqual([4, 4, 4, 4, 4]);
    expect(lines.some((line) => line.line.includes('resume override: training_settings.num_iterations: 4 → 5'))).toBe(true);
    // Recomputation gives bit-identical results: a resume may turn it on without --allow-config-change.
    expect(lines.some((line) => line.line.includes('resume override: training_settings.gradient_checkpointing: false → true'))).toBe(true);

    // Allowed explicitly: resumes, and the log says what changed.
    const allowedLog = captureLogger();
    const allowed = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, resume: true, allowConfigChange: true, logger: allowedLog.logger, overrides: { 'output_settings.output_dir': output, 'training_settings.num_iterations': 6, 'training_settings.learning_rate': 0.01 }, loadComponents: testComponents() });
    expect((await allowed.runTraining()).iterations.completed).toBe(6);
    await allowed.dispose();
    expect(allowedLog.lines.some((line) => line.level === 'WARNING' && line.line.includes('resume override: training_settings.learning_rate: 0.05 → 0.01 (changes what is trained; allowed by --allow-config-change)'))).toBe(true);
  });

  it('falls back to the previous checkpoint when the latest is damaged, naming the bad file', async () => {
    const output = join(folder, 'damaged');
    const stop = new StopSignal();
    const first = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
      baseDirectory: repoRoot,
      logger: captureLogger().logger,
      stopSignal: stop,
      overrides: tiny(output, { 'training_settings.validation_every': 0 }),
      loadComponents: testComponents(),
      onIteration: (iteration) => {
        if (iteration === 2) stop.request('SIGTERM');
      },
    });
    await first.runTraining();
    await first.dispose();
    const bad = join(output, 'checkpoint_iter_2', 'trainer_state.json');
    const text = await readFile(bad, 'utf8');
    await writeFile(bad, text.replace(/\d/u, (digit) => String((Number(digit) + 1) % 10)));
    const { logger, lines } = captureLogger();
    const resumed = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, resume: true, logger, overrides: { 'output_settings.output_dir': output }, loadComponents: testComponents() });
    const results = await resumed.runTraining();
    await resumed.dispose();
    expect(results.iterations).toMatchObject({ completed: 3, resumed_from: 1 });
    const warning = lines.find((line) => line.level === 'WARNING' && line.line.includes('is damaged'));
    expect(warning?.line).toContain(`${bad}: SHA-256`);
    expect(warning?.line).toContain(`falling back to the previous one, ${join(output, 'checkpoint_iter_1')}`);
  });
});

describe('inputs are checked before training', () => {
  it('an output folder that cannot be created fails at once with a clear error (no hang on /proc)', async () => {
    const system = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, logger: captureLogger().logger, overrides: tiny('/proc/vlm-grpo-output'), loadComponents: testComponents() });
    const error = (await system.runTraining().catch((caught: unknown) => caught)) as Error;
    expect(error).toMatchObject({ code: 'DATA_WRITE_FAILED' });
    expect(error.message).toContain('/proc does not accept new folders');
  });

  it('an output folder that is not writable says so (not ENOENT), before any model loads', async () => {
    // sysfs refuses new files even to root (CI runs as root, so chmod cannot make this case).
    const system = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, logger: captureLogger().logger, overrides: tiny('/sys/kernel'), loadComponents: testComponents() });
    const error = (await system.runTraining().catch((caught: unknown) => caught)) as Error;
    expect(error.message).toMatch(/^the run folder \/sys\/kernel is not writable \((EACCES|EPERM|EROFS)/u);
    expect(error.message).not.toContain('ENOENT');
  });

  it('an empty validation file fails before any model loads, naming the file', async () => {
    const empty = join(folder, 'val.jsonl');
    await writeFile(empty, '\n');
    let loaded = false;
    const system = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
      baseDirectory: repoRoot,
      logger: captureLogger().logger,
      overrides: tiny(join(folder, 'run'), { 'data_settings.val_file': empty }),
      loadComponents: async (...args) => {
        loaded = true;
        return testComponents()(...args);
      },
    });
    const error = (await system.runTraining().catch((caught: unknown) => caught)) as Error;
    expect(error).toMatchObject({ code: 'DATA_EMPTY_DATASET' });
    expect(error.message).toContain(`${empty}: no prompt records`);
    expect(loaded).toBe(false);
    // The folder says how to go on: a plain rerun is told about --resume and overwrite.
    const again = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, logger: captureLogger().logger, overrides: tiny(join(folder, 'run')), loadComponents: testComponents() });
    const conflict = (await again.runTraining().catch((caught: unknown) => caught)) as Error;
    expect(conflict.message).toContain(`To continue that run: --resume --output-dir ${join(folder, 'run')}`);
  });

  it('logs every dropped invalid or duplicate line with its file:line', async () => {
    const train = join(folder, 'train.jsonl');
    const line = (prompt: string, category: string) => JSON.stringify({ user_prompt: prompt, category, difficulty: 'easy' });
    await writeFile(train, [line('a cat', 'animals'), 'not json', line('A  cat', 'animals'), line('a city at night', 'urban'), line('a red car', 'vehicles'), line('a mountain lake', 'nature')].join('\n'));
    const { logger, lines } = captureLogger();
    const system = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
      baseDirectory: repoRoot,
      logger,
      overrides: tiny(join(folder, 'run'), { 'data_settings.train_file': train, 'data_settings.skip_invalid': true, 'data_settings.drop_duplicates': true, 'training_settings.num_iterations': 1, 'training_settings.validation_every': 0 }),
      loadComponents: testComponents(),
    });
    await system.runTraining();
    await system.dispose();
    expect(lines.some((entry) => entry.level === 'WARNING' && entry.line.includes(`data: skipped invalid line ${train}:2: bad JSON`))).toBe(true);
    expect(lines.some((entry) => entry.line.includes(`data: dropped duplicate prompt ${train}:3 (same as line 1)`))).toBe(true);
    expect(lines.some((entry) => entry.line.includes(`data: ${train}: 4 records kept, 1 invalid lines skipped, 1 duplicates dropped`))).toBe(true);
  });

  it('refuses a second training process in the same run folder while the first runs', async () => {
    const output = join(folder, 'shared');
    let second: Promise<unknown> | undefined;
    const first = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
      baseDirectory: repoRoot,
      logger: captureLogger().logger,
      overrides: tiny(output, { 'training_settings.validation_every': 0 }),
      loadComponents: testComponents(),
      onIteration: async (iteration) => {
        if (iteration !== 1) return;
        const other = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, resume: true, logger: captureLogger().logger, overrides: { 'output_settings.output_dir': output }, loadComponents: testComponents() });
        second = other.runTraining().catch((caught: unknown) => caught);
        await second;
      },
    });
    expect((await first.runTraining()).status).toBe('completed');
    await first.dispose();
    const error = (await second) as Error;
    expect(error).toMatchObject({ code: 'TRAINER_RUN_LOCKED' });
    expect(error.message).toContain(`pid ${process.pid}`);
    expect((await metricLines(join(output, 'metrics.jsonl'))).map((line) => line.iteration)).toEqual([1, 2, 3]);
    expect(await readdir(output)).not.toContain('.vlm-grpo-run.lock');
  });
});
