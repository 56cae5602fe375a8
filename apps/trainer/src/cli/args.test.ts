import { describe, expect, it } from 'vitest';

import { TrainerError } from '../errors.js';
import { CONFIG_KEY_DOCS } from '../config/config-docs.js';
import { parseCliArguments } from './args.js';
import { configKeyHelp, helpText } from './help.js';

const usageError = (argv: string[]): TrainerError => {
  try {
    parseCliArguments(argv);
  } catch (error) {
    expect(TrainerError.isInstance(error) && error.code).toBe('TRAINER_CLI_USAGE');
    return error as TrainerError;
  }
  throw new Error(`expected a usage error for ${argv.join(' ')}`);
};

describe('parseCliArguments', () => {
  it('reads the command, --config, dotted overrides in both forms, and the shortcuts', () => {
    const parsed = parseCliArguments(['train', '--config', 'my.json', '--training_settings.learning_rate', '2e-6', '--training_settings.seed=7', '--output-dir', 'runs/a', '--device=cpu', '--data_settings.train_file', 'x.jsonl']);
    expect(parsed.command).toBe('train');
    expect(parsed.configFile).toBe('my.json');
    expect(parsed.overrides).toEqual({
      'training_settings.learning_rate': 2e-6,
      'training_settings.seed': 7,
      'output_settings.output_dir': 'runs/a',
      'model_settings.device': 'cpu',
      'data_settings.train_file': 'x.jsonl',
    });
    expect(parsed.resume).toBe(false);
  });

  it('defaults to train, treats a bare boolean flag as true, and reads --resume forms', () => {
    expect(parseCliArguments([]).command).toBe('train');
    expect(parseCliArguments(['--output_settings.overwrite', '--resume']).overrides).toEqual({ 'output_settings.overwrite': true });
    expect(parseCliArguments(['--resume']).resume).toBe(true);
    expect(parseCliArguments(['train', '--resume=runs/x/checkpoint_iter_4']).resume).toBe('runs/x/checkpoint_iter_4');
    expect(parseCliArguments(['--training_settings.beta', '-1']).overrides).toEqual({ 'training_settings.beta': -1 });
  });

  it('collects prompts for enhance, after -- too', () => {
    const parsed = parseCliArguments(['enhance', 'a cat', '--device', 'cpu', '--', '--not a flag']);
    expect(parsed.command).toBe('enhance');
    expect(parsed.prompts).toEqual(['a cat', '--not a flag']);
    expect(parseCliArguments(['--help']).help).toBe(true);
    expect(parseCliArguments(['evaluate', '-h']).help).toBe(true);
  });

  it('rejects unknown commands, missing values, stray prompts and malformed options', () => {
    expect(usageError(['trian']).message).toContain('unknown command "trian"');
    expect(usageError(['train', '--config']).message).toContain('--config needs a value');
    expect(usageError(['train', '--output-dir', '--device', 'cpu']).message).toContain('--output-dir needs a value');
    expect(usageError(['train', 'a cat']).message).toContain('only "enhance" takes prompts');
    expect(usageError(['-x']).message).toContain('unknown option "-x"');
    expect(usageError(['--a..b', '1']).message).toContain('unknown option');
    expect(usageError(['--=1']).message).toContain('empty option name');
  });
});

describe('help', () => {
  it('documents every configuration key with its type and schema default (effective values: cli.test.ts)', () => {
    const rows = configKeyHelp();
    expect(rows.filter((row) => row.description === '').map((row) => row.path)).toEqual([]);
    const documented = new Set(rows.map((row) => row.path));
    // No stale entries either (object keys such as `tracking.wandb` describe a section).
    const stale = Object.keys(CONFIG_KEY_DOCS).filter((path) => !documented.has(path) && !rows.some((row) => row.path.startsWith(`${path}.`)));
    expect(stale).toEqual([]);
    const rate = rows.find((row) => row.path === 'training_settings.learning_rate')!;
    expect(rate).toMatchObject({ type: 'number', defaultValue: '0.00001' });
    expect(rows.find((row) => row.path === 'training_settings.batch_size')!.type).toBe('integer');
    expect(rows.find((row) => row.path === 'model_settings.device')!.type).toBe('"auto" | "cpu" | "webgpu" | "cuda" | "coreml"');
    expect(rows.find((row) => row.path === 'training_settings.epsilon_high')!.type).toBe('number | null');
    const text = helpText();
    expect(text).toContain('vlm-grpo enhance');
    expect(text).toContain('--resume');
    expect(text).toContain('reward_settings.subject_kept.weight  (number; 2)');
  });
  it('refuses __proto__, constructor and prototype as keys, in flag names and in JSON values', () => {
    for (const argv of [['--__proto__.polluted', '1'], ['--training_settings.constructor', '1'], ['--training_settings.prototype=1'], ['--training_settings', '{"__proto__": {"polluted": 1}}'], ['--tracking', '{"wandb": {"constructor": {}}}']]) {
      expect(() => parseCliArguments(argv), argv.join(' ')).toThrow(/is a reserved name, not a configuration key/u);
    }
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('takes --allow-config-change (for --resume)', () => {
    expect(parseCliArguments(['train', '--resume', '--allow-config-change']).allowConfigChange).toBe(true);
    expect(parseCliArguments(['train', '--resume']).allowConfigChange).toBe(false);
  });
});
