/**
 * The end of a training run prints the ready commands for its best model, as Hugging Face's
 * trainers print where the model went: `enhance` and `evaluate` with
 * `--model_settings.vlm_model <run>/best_model`, carrying the run's `--config` and the flags that
 * describe the models and images (not the training ones), in the form the run was started with
 * (`npx nx run trainer:<command> --` under Nx, else `vlm-grpo <command>`).
 */
import { isAbsolute, join, relative } from 'node:path';

import type { JsonObject } from '../config/load-config.js';

/** What {@link nextCommands} needs to know about the run. */
export interface NextCommandsInput {
  /** Absolute run folder. */
  runFolder: string;
  /** Best model folder, relative to the run folder (null when none was saved). */
  bestModel: string | null;
  /** `--config` of the run (default: none). */
  configFile?: string;
  /** Dotted CLI overrides of the run. */
  overrides: JsonObject;
  /** Working directory, for relative paths (default: `process.cwd()`). */
  cwd?: string;
  /** Environment, to tell an Nx target from a direct call (default: `process.env`). */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Quote one shell word when it needs it (POSIX single quotes). */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/u.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Overrides that concern training only and do not carry over to enhance/evaluate. */
const TRAINING_ONLY = /^(training_settings|tracking|output_settings\.overwrite)(\.|$)/u;

/** The `enhance` and `evaluate` command lines for the run's best model (empty without one). */
export function nextCommands(input: NextCommandsInput): string[] {
  if (input.bestModel === null) return [];
  const cwd = input.cwd ?? process.cwd();
  const env = input.env ?? process.env;
  const display = (path: string) => {
    const rel = relative(cwd, path);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
  };
  const model = display(join(input.runFolder, input.bestModel));
  const carried: string[] = [];
  if (input.configFile !== undefined) carried.push('--config', input.configFile);
  for (const [key, value] of Object.entries(input.overrides)) {
    if (TRAINING_ONLY.test(key) || key === 'model_settings.vlm_model') continue;
    carried.push(`--${key}`, typeof value === 'string' ? value : JSON.stringify(value));
  }
  const nx = env['NX_TASK_TARGET_PROJECT'] !== undefined;
  const prefix = (command: string) => (nx ? ['npx', 'nx', 'run', `trainer:${command}`, '--'] : ['vlm-grpo', command]);
  const line = (command: string, extra: string[]) => [...prefix(command), ...carried, '--model_settings.vlm_model', model, ...extra].map(shellQuote).join(' ');
  return [line('enhance', ['a cat']), line('evaluate', [])];
}
