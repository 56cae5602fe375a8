import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseValidationResult } from '@vlm-grpo/eval';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { fakeWandb, historyRows } from './__fixtures__/fake-wandb-server.js';
import { testComponents, type UnigramPolicy, TINY_DEFAULT_CONFIG } from './__fixtures__/test-components.js';
import { TrainerError } from './errors.js';
import { finalResultsSchema, metricsLineSchema, trainerStateSchema } from './results/schemas.js';
import { checkpointManifestSchema } from './runtime/checkpoints.js';
import { Logger } from './runtime/logger.js';
import { StopSignal } from './runtime/stop-signal.js';
import { VLMGRPOSystem } from './vlm-grpo-system.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-grpo-system-'));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

const quietLogger = () => new Logger({ level: 'DEBUG', console: null });

function tinyOverrides(output: string, extra: Record<string, unknown> = {}) {
  return {
    'output_settings.output_dir': output,
    'training_settings.num_iterations': 3,
    'training_settings.batch_size': 2,
    'training_settings.num_generations': 2,
    'training_settings.validation_every': 2,
    'training_settings.checkpoint_every': 1,
    'training_settings.keep_checkpoints': 2,
    'training_settings.learning_rate': 0.05,
    'generation_settings.max_new_tokens': 16,
    'validation_settings.num_prompts': 4,
    'logging_settings.progress_bar': 'never',
    ...extra,
  };
}

async function jsonl(path: string): Promise<unknown[]> {
  return (await readFile(path, 'utf8')).split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as unknown);
}

describe('VLMGRPOSystem with stand-in models', () => {
  it('trains 3 iterations with validation and writes every output file, each matching its schema', async () => {
    const output = join(folder, 'run');
    const calls: { prompts: string[]; seeds: number[] }[] = [];
    const logger = quietLogger();
    const system = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, overrides: tinyOverrides(output), loadComponents: testComponents({ renderCalls: calls }), logger });
    const results = await system.runTraining();
    await system.dispose();

    expect(results.status).toBe('completed');
    const files = (await readdir(output)).sort();
    expect(files).toEqual(expect.arrayContaining(['best_model', 'checkpoint_iter_2', 'checkpoint_iter_3', 'final_results.json', 'metrics.jsonl', 'report.html', 'validation_iter_0.json', 'validation_iter_2.json', 'validation_iter_3.json', 'vlm_grpo_training.log', 'contact_sheet_iter_2.png']));
    expect(files.filter((name) => name.startsWith('checkpoint_iter_'))).toEqual(['checkpoint_iter_2', 'checkpoint_iter_3']);

    const final = finalResultsSchema.parse(JSON.parse(await readFile(join(output, 'final_results.json'), 'utf8')));
    expect(final.iterations).toEqual({ completed: 3, planned: 3, resumed_from: null });
    // Iteration 0 is the baseline: validated before the first update.
    expect(final.files.validations).toEqual(['validation_iter_0.json', 'validation_iter_2.json', 'validation_iter_3.json']);
    expect(final.files.best_model).toBe('best_model');
    expect(final.timings_s.per_iteration!.total).toBeGreaterThan(0);
    expect(final.best?.metric).toBe('enhanced_mean_reward');

    const lines = (await jsonl(join(output, 'metrics.jsonl'))).map((line) => metricsLineSchema.parse(line));
    expect(lines.map((line) => line.iteration)).toEqual([1, 2, 3]);
    for (const line of lines) {
      expect(line.metrics['reward']).toBeTypeOf('number');
      expect(line.metrics['kl']).toBeTypeOf('number');
      expect(Object.keys(line.metrics)).toEqual(expect.arrayContaining(['rewards/relevance_to_original/mean', 'rewards/similarity/mean', 'rewards/quality/mean', 'rewards/length_in_range/mean', 'rewards/subject_kept/mean']));
      expect(line.samples).toEqual({ total: 4, failed: 0 });
    }
    for (const iteration of [2, 3]) {
      const validation = parseValidationResult(JSON.parse(await readFile(join(output, `validation_iter_${iteration}.json`), 'utf8')));
      expect(validation.counts.prompts).toBe(4);
      expect(validation.counts.evaluated).toBe(4);
      expect(validation.metrics.enhanced.components['subject_kept']?.mean).toBe(1);
    }
    for (const name of ['checkpoint_iter_2', 'checkpoint_iter_3']) {
      const manifest = checkpointManifestSchema.parse(JSON.parse(await readFile(join(output, name, 'checkpoint.json'), 'utf8')));
      expect(manifest.files.map((file) => file.path)).toEqual(['policy/config.json', 'policy/weights.json', 'run_config.json', 'state.json', 'trainer_state.bin', 'trainer_state.json']);
      const state = trainerStateSchema.parse(JSON.parse(await readFile(join(output, name, 'state.json'), 'utf8')));
      expect(state.metrics).toHaveLength(manifest.iteration);
      expect(state.sampler.batchesDrawn).toBe(manifest.iteration);
    }
    const log = await readFile(join(output, 'vlm_grpo_training.log'), 'utf8');
    expect(log).toMatch(/INFO validation 2: enhanced reward/u);
    expect(log).toMatch(/INFO checkpoint written: .*checkpoint_iter_3/u);

    // Same initial noise for every rewrite of a group: training calls render one group at a time.
    const training = calls.filter((call) => call.prompts.length === 2 && call.seeds[0] === call.seeds[1]);
    expect(training.length).toBeGreaterThanOrEqual(6);
  });

  it('stops on a signal with a checkpoint, and a resumed run ends with the same weights as an uninterrupted one', async () => {
    const weights = (policy: UnigramPolicy) => Array.from(policy.weights.dataSync() as Float32Array);
    const reference: UnigramPolicy[] = [];
    const straight = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, overrides: tinyOverrides(join(folder, 'straight'), { 'training_settings.checkpoint_every': 2 }), loadComponents: testComponents({ policies: reference }), logger: quietLogger() });
    await straight.runTraining();
    const expected = weights(reference[0]!);
    await straight.dispose();

    const stop = new StopSignal();
    const first: UnigramPolicy[] = [];
    const interrupted = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
      baseDirectory: repoRoot,
      overrides: tinyOverrides(join(folder, 'resumed'), { 'training_settings.checkpoint_every': 2 }),
      loadComponents: testComponents({ policies: first }),
      logger: quietLogger(),
      stopSignal: stop,
      onIteration: (iteration) => {
        if (iteration === 1) stop.request('SIGTERM');
      },
    });
    const stopped = await interrupted.runTraining();
    await interrupted.dispose();
    expect(stopped.status).toBe('stopped');
    expect(stopped.iterations.completed).toBe(1);
    expect((await readdir(join(folder, 'resumed'))).filter((name) => name.startsWith('checkpoint_iter_'))).toEqual(['checkpoint_iter_1']);

    const second: UnigramPolicy[] = [];
    const resumed = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, resume: true, overrides: tinyOverrides(join(folder, 'resumed'), { 'training_settings.checkpoint_every': 2 }), loadComponents: testComponents({ policies: second }), logger: quietLogger() });
    const results = await resumed.runTraining();
    expect(results.status).toBe('completed');
    expect(results.iterations.resumed_from).toBe(1);
    expect(weights(second[0]!)).toEqual(expected);
    expect(expected).not.toEqual(weights(first[0]!));
    await resumed.dispose();
    const lines = (await jsonl(join(folder, 'resumed', 'metrics.jsonl'))).map((line) => metricsLineSchema.parse(line));
    expect(lines.map((line) => line.iteration)).toEqual([1, 2, 3]);
    const straightLines = (await jsonl(join(folder, 'straight', 'metrics.jsonl'))).map((line) => metricsLineSchema.parse(line));
    expect(lines.map((line) => line.metrics['reward'])).toEqual(straightLines.map((line) => line.metrics['reward']));
  });

  it('excludes failed samples, and stops with a checkpoint and a clear error when failures persist', async () => {
    const output = join(folder, 'failing');
    let failAll = false;
    const system = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
      baseDirectory: repoRoot,
      overrides: tinyOverrides(output, { 'training_settings.num_iterations': 6, 'training_settings.max_failed_iterations': 2, 'training_settings.validation_every': 0, 'training_settings.checkpoint_every': 10 }),
      // One rewrite in two fails in iteration 1 (the exclusion path), then everything fails.
      loadComponents: testComponents({ failRender: (prompt) => failAll || prompt.length % 2 === 0 }),
      logger: quietLogger(),
      onIteration: (iteration) => {
        if (iteration === 1) failAll = true;
      },
    });
    const error = await system.runTraining().then(() => undefined, (reason: unknown) => reason);
    await system.dispose();
    expect(TrainerError.isInstance(error) && error.code).toBe('TRAINER_TOO_MANY_FAILURES');
    expect((error as Error).message).toContain('rendering: render failed');
    const lines = (await jsonl(join(output, 'metrics.jsonl'))).map((line) => metricsLineSchema.parse(line));
    expect(lines).toHaveLength(3);
    expect(lines[0]!.samples.failed).toBeLessThanOrEqual(lines[0]!.samples.total);
    expect(lines[1]!.samples).toEqual({ total: 4, failed: 4 });
    expect(lines[2]!.failures[0]).toMatchObject({ stage: 'rendering' });
    const final = finalResultsSchema.parse(JSON.parse(await readFile(join(output, 'final_results.json'), 'utf8')));
    expect(final.status).toBe('failed');
    expect(final.files.checkpoints).toEqual(['checkpoint_iter_3']);
  });

  it('refuses to write into the folder of another run and to resume a folder that is not a run', async () => {
    const output = join(folder, 'taken');
    const first = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, overrides: tinyOverrides(output, { 'training_settings.num_iterations': 1, 'training_settings.validation_every': 0 }), loadComponents: testComponents(), logger: quietLogger() });
    await first.runTraining();
    await first.dispose();
    const second = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, overrides: tinyOverrides(output, { 'training_settings.num_iterations': 1 }), loadComponents: testComponents(), logger: quietLogger() });
    await expect(second.runTraining()).rejects.toMatchObject({ code: 'DATA_RUN_DIRECTORY_CONFLICT' });
    await second.dispose();
    const third = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, resume: true, overrides: tinyOverrides(join(folder, 'empty')), loadComponents: testComponents(), logger: quietLogger() });
    await expect(third.runTraining()).rejects.toMatchObject({ code: 'TRAINER_CHECKPOINT_NOT_FOUND' });
    await third.dispose();
  });

  it('resolves every configured path against the base directory, the aesthetic head included', async () => {
    const seen: { sd: string; clip: string; head: string | null }[] = [];
    const components = testComponents();
    const system = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
      baseDirectory: repoRoot,
      overrides: { 'output_settings.output_dir': join(folder, 'paths'), 'reward_settings.aesthetic.weight': 0.5, 'reward_settings.aesthetic.head_path': 'data/models/world-clip/aesthetic_head.safetensors' },
      loadComponents: async (config, logger, scope) => {
        seen.push({ sd: config.model_settings.sd_model, clip: config.model_settings.clip_model, head: config.reward_settings.aesthetic.head_path });
        return components(config, logger, scope);
      },
      logger: quietLogger(),
    });
    await system.initializeComponents();
    expect(seen[0]!.head).toBe(join(repoRoot, 'data/models/world-clip/aesthetic_head.safetensors'));
    for (const path of [seen[0]!.sd, seen[0]!.clip]) expect(path.startsWith(repoRoot)).toBe(true);
    await system.dispose();
  });

  it('enhances prompts and evaluates the policy into <output_dir>/evaluation', async () => {
    const system = new VLMGRPOSystem({ validation_settings: { num_prompts: 3 } }, { defaultConfigFile: TINY_DEFAULT_CONFIG, baseDirectory: repoRoot, overrides: { 'output_settings.output_dir': join(folder, 'eval') }, loadComponents: testComponents(), logger: quietLogger() });
    const rewrites = await system.enhance(['a cat', 'FAIL me']);
    expect(rewrites[0]!.enhanced.startsWith('a cat ')).toBe(true);
    expect(rewrites[1]).toMatchObject({ prompt: 'FAIL me', enhanced: 'FAIL me', fallback: true, reason: 'enhancer failed' });
    const { summary, directory } = await system.evaluate();
    expect(summary.evaluated).toBe(3);
    expect(summary.iteration).toBe(0);
    expect(await readdir(directory)).toContain('validation_iter_0.json');
    await system.dispose();
  });

  it('logs the config, every iteration, validation metrics and a validation table with images to W&B', async () => {
    const fake = await fakeWandb();
    const saved = process.env['WANDB_API_KEY'];
    process.env['WANDB_API_KEY'] = 'k'.repeat(40);
    try {
      const system = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
        baseDirectory: repoRoot,
        overrides: tinyOverrides(join(folder, 'tracked'), { 'tracking.wandb.enabled': true, 'tracking.wandb.base_url': fake.base, 'tracking.wandb.project': 'tracked' }),
        loadComponents: testComponents(),
        logger: quietLogger(),
      });
      await system.runTraining();
      await system.dispose();
    } finally {
      if (saved === undefined) delete process.env['WANDB_API_KEY'];
      else process.env['WANDB_API_KEY'] = saved;
      await new Promise<void>((done) => fake.server.close(() => done()));
    }
    const upsert = fake.requests.find((request) => request.body.includes('upsertBucket'))!;
    const config = JSON.parse((JSON.parse(upsert.body) as { variables: { config: string } }).variables.config) as { training_settings: { batch_size: number } };
    expect(config.training_settings.batch_size).toBe(2);
    const rows = historyRows(fake.requests);
    const byStep = new Map<number, Record<string, unknown>>();
    for (const row of rows) byStep.set(row['_step'] as number, { ...byStep.get(row['_step'] as number), ...row });
    // Step 0: the baseline validation before the first update.
    expect([...byStep.keys()].sort()).toEqual([0, 1, 2, 3]);
    expect(byStep.get(0)!['validation/win_rate']).toBeTypeOf('number');
    for (const step of [1, 2, 3]) expect(byStep.get(step)!['reward']).toBeTypeOf('number');
    expect(byStep.get(2)!['validation/win_rate']).toBeTypeOf('number');
    expect(byStep.get(2)!['validation/samples']).toMatchObject({ _type: 'table-file', ncols: 7, nrows: 4 });
    const table = fake.requests.find((request) => request.method === 'PUT' && request.url.includes('validation_samples_2_') && request.url.endsWith('.table.json'))!;
    const content = JSON.parse(table.body) as { columns: string[]; data: unknown[][] };
    expect(content.columns).toEqual(['prompt', 'rewrite', 'outcome', 'original_reward', 'enhanced_reward', 'original_image', 'enhanced_image']);
    expect(String(content.data[0]![1]).startsWith(String(content.data[0]![0]))).toBe(true);
    expect(content.data[0]![6]).toMatchObject({ _type: 'image-file', format: 'png', width: 8, height: 8 });
    expect(fake.requests.filter((request) => request.method === 'PUT' && request.url.endsWith('.png')).length).toBeGreaterThanOrEqual(8);
  });
});
