import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { testComponents, TINY_DEFAULT_CONFIG } from '../__fixtures__/test-components.js';
import { runCli } from '../cli.js';
import type { TrainerConfig } from '../config/config-schema.js';
import { Logger } from '../runtime/logger.js';
import type { SystemComponents } from '../system/ports.js';
import { VLMGRPOSystem } from '../vlm-grpo-system.js';
import { nextCommands, shellQuote } from './next-commands.js';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'vlm-grpo-cli-'));
});
afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

async function cli(argv: string[], system: Parameters<typeof runCli>[2] = {}) {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, { stdout: { write: (text: string) => (stdout += text) }, stderr: { write: (text: string) => (stderr += text) } }, { logger: new Logger({ console: { write: (line: string) => void (stderr += line) } as never }), ...system });
  return { code, stdout, stderr };
}

describe('--help', () => {
  it('shows the effective values (config/default_config.json over the schema), per command', async () => {
    const train = await cli(['train', '--help']);
    expect(train.code).toBe(0);
    expect(train.stdout).toContain('effective value from config/default_config.json');
    // default_config.json sets 96 iterations; the schema default is 6.
    expect(train.stdout).toContain('training_settings.num_iterations  (integer; 96; schema default 6)');
    expect(train.stdout).toContain('training_settings.batch_size  (integer; 4)');
    expect(train.stdout).toContain('training_settings.group_size = training_settings.num_generations');
    expect(train.stdout).toContain('--resume');
    // Flags and --config count too.
    const flagged = await cli(['train', '--help', '--training_settings.num_iterations', '3']);
    expect(flagged.stdout).toContain('training_settings.num_iterations  (integer; 3; schema default 6)');
    expect(flagged.stdout).toContain('config/default_config.json ← flags');

    const evaluate = await cli(['evaluate', '--help']);
    expect(evaluate.stdout).toContain('vlm-grpo evaluate');
    expect(evaluate.stdout).not.toContain('vlm-grpo train ');
    expect(evaluate.stdout).toContain('validation_settings.num_prompts');
    expect(evaluate.stdout).not.toContain('training_settings.learning_rate');
    expect(evaluate.stdout).not.toContain('--resume');
    const enhance = await cli(['enhance', '--help']);
    expect(enhance.stdout).toContain('generation_settings.max_new_tokens');
    expect(enhance.stdout).not.toContain('diffusion_settings.steps');
    const doctor = await cli(['doctor', '--help']);
    expect(doctor.stdout).toContain('vlm-grpo doctor');
    expect(doctor.stdout).not.toContain('model_settings.');
    // Without a command: every command and every key.
    const all = await cli(['--help']);
    for (const command of ['train', 'evaluate', 'enhance', 'doctor']) expect(all.stdout).toContain(`vlm-grpo ${command}`);
    expect(all.stdout).toContain('tracking.wandb.enabled');
  });

  it('lists every scheduler the sd package builds', async () => {
    const { SCHEDULER_CHOICES } = await import('@vlm-grpo/sd');
    const { stdout } = await cli(['train', '--help']);
    expect(stdout).toContain(`diffusion_settings.scheduler  (${SCHEDULER_CHOICES.map((choice) => JSON.stringify(choice)).join(' | ')} | null; null)`);
  });
});

describe('usage and configuration errors exit 2, with suggestions', () => {
  it('suggests the flag a typo meant', async () => {
    for (const [typo, meant] of [['--confg', '--config'], ['--outptu-dir', '--output-dir'], ['--devcie', '--device'], ['--resum', '--resume']] as const) {
      const { code, stderr } = await cli(['train', typo, 'x']);
      expect(code, typo).toBe(2);
      expect(stderr).toContain(`unknown option "${typo}" (did you mean ${meant}?)`);
    }
    const unknown = await cli(['train', '--zzzzzz', '1']);
    expect(unknown.stderr).toMatch(/unknown option "--zzzzzz"\n/u);
  });

  it('exits 2 for invalid or missing configuration, naming the key', async () => {
    const invalid = await cli(['train', '--training_settings.num_iterations', '0', '--output-dir', join(folder, 'a')]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('training_settings.num_iterations');
    const typo = await cli(['train', '--traning_settings.seed', '1', '--output-dir', join(folder, 'b')]);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('did you mean "training_settings"?');
    const missing = await cli(['train', '--config', join(folder, 'nope.json')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('nope.json');
  });
});

describe('the end of a run', () => {
  it('prints the ready enhance and evaluate commands for its best model', async () => {
    const output = join(folder, 'run');
    const nx = process.env['NX_TASK_TARGET_PROJECT'];
    delete process.env['NX_TASK_TARGET_PROJECT'];
    const { code, stdout } = await cli(
      ['train', '--output-dir', output, '--training_settings.num_iterations', '2', '--training_settings.batch_size', '2', '--training_settings.num_generations', '2', '--training_settings.validation_every', '2', '--validation_settings.num_prompts', '2', '--generation_settings.max_new_tokens', '8', '--logging_settings.progress_bar', 'never', '--device', 'cpu'],
      { baseDirectory: repoRoot, defaultConfigFile: TINY_DEFAULT_CONFIG, loadComponents: testComponents() },
    ).finally(() => {
      if (nx !== undefined) process.env['NX_TASK_TARGET_PROJECT'] = nx;
    });
    expect(code).toBe(0);
    expect(stdout).toContain(`best model: ${output}/best_model`);
    // Training flags stay behind; the device and the output folder carry over.
    const carried = `--output_settings.output_dir ${output} --validation_settings.num_prompts 2 --generation_settings.max_new_tokens 8 --logging_settings.progress_bar never --model_settings.device cpu`;
    expect(stdout).toContain(`  vlm-grpo enhance ${carried} --model_settings.vlm_model ${output}/best_model 'a cat'\n`);
    expect(stdout).toContain(`  vlm-grpo evaluate ${carried} --model_settings.vlm_model ${output}/best_model\n`);
    expect(stdout).not.toMatch(/enhance .*training_settings/u);
  });

  it('uses the Nx form under Nx, relative paths under the working directory, and nothing without a best model', () => {
    const lines = nextCommands({ runFolder: '/repo/vlm_grpo_results', bestModel: 'best_model', configFile: 'my config.json', overrides: { 'training_settings.seed': 1, 'diffusion_settings.steps': 4 }, cwd: '/repo', env: { NX_TASK_TARGET_PROJECT: 'trainer' } });
    expect(lines).toEqual([
      "npx nx run trainer:enhance -- --config 'my config.json' --diffusion_settings.steps 4 --model_settings.vlm_model vlm_grpo_results/best_model 'a cat'",
      "npx nx run trainer:evaluate -- --config 'my config.json' --diffusion_settings.steps 4 --model_settings.vlm_model vlm_grpo_results/best_model",
    ]);
    expect(nextCommands({ runFolder: '/x', bestModel: null, overrides: {} })).toEqual([]);
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe('model paths', () => {
  it('an existing relative folder wins over a hub id of the same shape, resolved from the working directory', async () => {
    await mkdir(join(folder, 'vlm_grpo_results', 'best_model'), { recursive: true });
    const seen: TrainerConfig[] = [];
    const load = testComponents();
    const system = new VLMGRPOSystem(undefined, { defaultConfigFile: TINY_DEFAULT_CONFIG,
      baseDirectory: folder,
      logger: new Logger({ console: null }),
      overrides: { 'model_settings.vlm_model': 'vlm_grpo_results/best_model', 'model_settings.sd_model': 'org/not-here', 'data_settings.train_file': join(repoRoot, 'data/train_prompts.jsonl'), 'data_settings.val_file': join(repoRoot, 'data/val_prompts.jsonl') },
      loadComponents: async (config, logger, scope): Promise<SystemComponents> => {
        seen.push(config);
        return load(config, logger, scope);
      },
    });
    await system.initializeComponents();
    await system.dispose();
    expect(seen[0]!.model_settings.vlm_model).toBe(join(folder, 'vlm_grpo_results', 'best_model'));
    expect(seen[0]!.model_settings.sd_model).toBe('org/not-here');
  });
});

describe('the nx targets of long runs', () => {
  it('start training and rollout workers with glibc malloc limited to 2 arenas (flat memory over long runs: BENCHMARKS.md, "Soak")', async () => {
    const manifest = JSON.parse(await readFile(join(repoRoot, 'apps', 'trainer', 'package.json'), 'utf8')) as { nx: { targets: Record<string, { options: { command: string; env?: Record<string, string> } }> } };
    for (const target of ['train', 'worker']) {
      expect(manifest.nx.targets[target].options.env, `trainer:${target}`).toEqual({ MALLOC_ARENA_MAX: '2' });
    }
  });
});
