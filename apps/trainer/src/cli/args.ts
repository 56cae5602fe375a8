/**
 * Command-line parsing of the trainer: `vlm-grpo <train|evaluate|enhance|doctor> [options] [prompts…]`.
 *
 * - `--config <file>`: a user configuration file (JSON), layered over `config/default_config.json`.
 * - Dotted overrides of any configuration key: `--training_settings.learning_rate 2e-6` or
 *   `--training_settings.learning_rate=2e-6`. Values are decoded as JSON when they parse
 *   (`2e-6`, `true`, `null`, `[1,2]`), else kept as strings. A boolean key given last or followed
 *   by another flag means `true` (`--output_settings.overwrite`).
 * - `--resume` (continue the run in the output folder from its latest checkpoint), or
 *   `--resume=<checkpoint folder>` for a specific one. A resume uses the run's own stored
 *   configuration with the given flags on top; flags that change what is trained (learning rate,
 *   batch, G…) are refused unless `--allow-config-change` is given too.
 * - Keys named `__proto__`, `constructor` or `prototype` are refused (in flag names and in JSON values).
 * - `--output-dir <dir>` (= `--output_settings.output_dir`), `--device <d>` (= `--model_settings.device`).
 * - `--help` / `-h`.
 * Positional arguments are prompts and only `enhance` takes them.
 */
import { TrainerError } from '../errors.js';
import { trainerConfigSchema } from '../config/config-schema.js';
import { closestName, parseCliValue, type JsonObject } from '../config/load-config.js';

/** The commands of the CLI. */
export const CLI_COMMANDS = ['train', 'evaluate', 'enhance', 'doctor'] as const;

/** One command of the CLI. */
export type CliCommand = (typeof CLI_COMMANDS)[number];

/** The parsed command line. */
export interface CliArguments {
  /** The command (default: `train`). */
  command: CliCommand;
  /** Whether the command was named on the command line (for per-command `--help`). */
  commandGiven: boolean;
  /** `--config`: a user configuration file (default: none). */
  configFile?: string;
  /** Dotted configuration overrides, values decoded (`{ 'training_settings.seed': 1 }`). */
  overrides: JsonObject;
  /** `--resume`: `true` for the latest checkpoint of the run folder, or a checkpoint folder. */
  resume: boolean | string;
  /** `--allow-config-change`: resume even when the flags change what the run trains (default: false). */
  allowConfigChange: boolean;
  /** `--help` was given. */
  help: boolean;
  /** Positional prompts (`enhance` only). */
  prompts: string[];
}

const SHORTCUTS: Record<string, string> = {
  'output-dir': 'output_settings.output_dir',
  output_dir: 'output_settings.output_dir',
  device: 'model_settings.device',
};

/** The flags of the command line besides configuration keys (for typo suggestions). */
export const CLI_FLAGS = ['config', 'resume', 'allow-config-change', 'help', ...Object.keys(SHORTCUTS)] as const;

/** Names that would reach an object's prototype when used as keys: never configuration keys. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** The first reserved key (see {@link RESERVED_KEYS}) inside a decoded JSON value, as a dotted path. */
function reservedKeyIn(value: unknown, path: string): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  for (const key of Object.keys(value)) {
    if (RESERVED_KEYS.has(key)) return `${path}.${key}`;
    const inner = reservedKeyIn((value as Record<string, unknown>)[key], `${path}.${key}`);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

/** Top-level configuration sections and keys, which a bare `--name` may also set. */
const ROOT_KEYS: readonly string[] = Object.keys(trainerConfigSchema.shape);

function usage(message: string): TrainerError {
  return new TrainerError('TRAINER_CLI_USAGE', `${message}\nRun with --help for the list of commands and options.`);
}

/**
 * Parse `argv` (without `node` and the script path).
 * @throws TrainerError `TRAINER_CLI_USAGE` naming the offending argument.
 */
export function parseCliArguments(argv: readonly string[]): CliArguments {
  const result: CliArguments = { command: 'train', commandGiven: false, overrides: {}, resume: false, allowConfigChange: false, help: false, prompts: [] };
  let index = 0;
  let commandSeen = false;
  let positionalOnly = false;
  const takeValue = (flag: string, inline: string | undefined, allowBare: boolean): string | undefined => {
    if (inline !== undefined) return inline;
    const next = argv[index + 1];
    if (next === undefined || (next.startsWith('--') && next.length > 2)) {
      if (allowBare) return undefined;
      throw usage(`${flag} needs a value`);
    }
    index += 1;
    return next;
  };
  for (; index < argv.length; index++) {
    const argument = argv[index]!;
    if (positionalOnly || !argument.startsWith('-') || argument === '-' || /^-\d/u.test(argument)) {
      if (!commandSeen && result.prompts.length === 0 && (CLI_COMMANDS as readonly string[]).includes(argument)) {
        result.command = argument as CliCommand;
        result.commandGiven = true;
        commandSeen = true;
      } else if (!commandSeen && result.prompts.length === 0 && !positionalOnly && /^[a-z-]+$/u.test(argument)) {
        throw usage(`unknown command "${argument}"; expected one of ${CLI_COMMANDS.join(', ')}`);
      } else {
        result.prompts.push(argument);
      }
      continue;
    }
    if (argument === '--') {
      positionalOnly = true;
      continue;
    }
    if (argument === '-h' || argument === '--help') {
      result.help = true;
      continue;
    }
    if (!argument.startsWith('--')) throw usage(`unknown option "${argument}"`);
    const body = argument.slice(2);
    const equals = body.indexOf('=');
    const name = equals === -1 ? body : body.slice(0, equals);
    const inline = equals === -1 ? undefined : body.slice(equals + 1);
    if (name === '') throw usage(`empty option name in "${argument}"`);
    const reserved = name.split('.').find((segment) => RESERVED_KEYS.has(segment));
    if (reserved !== undefined) throw usage(`"--${name}": "${reserved}" is a reserved name, not a configuration key`);
    if (name === 'config') {
      const value = takeValue('--config', inline, false)!;
      if (value === '') throw usage('--config needs a file path');
      result.configFile = value;
    } else if (name === 'resume') {
      // Only the inline form takes a folder, so `--resume` never swallows a prompt.
      result.resume = inline === undefined || inline === 'true' ? true : inline === 'false' ? false : inline;
    } else if (name === 'allow-config-change') {
      result.allowConfigChange = inline === undefined || inline === 'true';
    } else if (SHORTCUTS[name] !== undefined) {
      const value = takeValue(`--${name}`, inline, false)!;
      result.overrides[SHORTCUTS[name]] = value;
    } else if (!name.includes('.') && !ROOT_KEYS.includes(name)) {
      // A bare name is a flag, or a top-level configuration key (`--description`): anything else is a typo.
      const suggestion = closestName(name, [...CLI_FLAGS, ...ROOT_KEYS]);
      throw usage(`unknown option "--${name}"${suggestion ? ` (did you mean --${suggestion}?)` : ''}`);
    } else if (/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$/u.test(name)) {
      const value = takeValue(`--${name}`, inline, true);
      const decoded = value === undefined ? true : parseCliValue(value);
      const inner = reservedKeyIn(decoded, `--${name}`);
      if (inner !== undefined) throw usage(`"${inner}": "${inner.split('.').at(-1)}" is a reserved name, not a configuration key`);
      Object.defineProperty(result.overrides, name, { value: decoded, enumerable: true, writable: true, configurable: true });
    } else {
      throw usage(`unknown option "${argument}"`);
    }
  }
  if (result.prompts.length > 0 && result.command !== 'enhance') {
    throw usage(`unexpected argument "${result.prompts[0]}": only "enhance" takes prompts`);
  }
  return result;
}
