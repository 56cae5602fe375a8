/**
 * `--help` text, generated from the configuration schema: every leaf key with its type, its
 * effective value (schema defaults ← `config/default_config.json` ← `--config` ← flags, what a run
 * would use), the schema default where that differs, and its documentation line. Per command:
 * `train --help` lists every key, `evaluate --help` and `enhance --help` the sections they read,
 * `doctor --help` its usage only.
 */
import { CONFIG_KEY_DOCS } from '../config/config-docs.js';
import { deviceSchema, trainerConfigSchema } from '../config/config-schema.js';
import { ORIGINAL_CONFIG_NAMES } from '../config/original-names.js';
import type { CliCommand } from './args.js';

/** One documented configuration key. */
export interface ConfigKeyHelp {
  /** Dotted path, e.g. `training_settings.learning_rate`. */
  path: string;
  /** Type as shown to users: `number`, `integer`, `boolean`, `string`, `"a" | "b"`, with `| null`. */
  type: string;
  /** Schema default, JSON-encoded. */
  defaultValue: string;
  /** Effective value (the configuration given to {@link configKeyHelp}), JSON-encoded; equals `defaultValue` without one. */
  effectiveValue: string;
  /** Documentation line (empty when the key is undocumented; a test forbids that). */
  description: string;
}

type Definition = {
  type?: string;
  shape?: Record<string, unknown>;
  innerType?: unknown;
  in?: unknown;
  entries?: Record<string, string>;
  checks?: { _zod?: { def?: { check?: string; format?: string } } }[];
};

const definitionOf = (schema: unknown): Definition | undefined => (schema as { _zod?: { def?: Definition } })._zod?.def;

function describeType(schema: unknown): { type: string; object?: Record<string, unknown> } {
  let nullable = false;
  let current = schema;
  for (;;) {
    const definition = definitionOf(current);
    if (!definition) return { type: 'unknown' };
    if (definition.type === 'default' || definition.type === 'prefault' || definition.type === 'optional') {
      current = definition.innerType;
      continue;
    }
    if (definition.type === 'pipe') {
      current = definition.in;
      continue;
    }
    if (definition.type === 'nullable') {
      nullable = true;
      current = definition.innerType;
      continue;
    }
    const suffix = nullable ? ' | null' : '';
    if (definition.type === 'object') return { type: `object${suffix}`, object: definition.shape ?? {} };
    if (definition.type === 'enum') {
      return { type: Object.values(definition.entries ?? {}).map((value) => JSON.stringify(value)).join(' | ') + suffix };
    }
    if (definition.type === 'number') {
      const integer = (definition.checks ?? []).some((check) => check._zod?.def?.format === 'safeint' || check._zod?.def?.check === 'number_format');
      return { type: `${integer ? 'integer' : 'number'}${suffix}` };
    }
    return { type: `${definition.type ?? 'unknown'}${suffix}` };
  }
}

/** Every leaf key of the configuration, in schema order, with its value in `effective` (default: the schema defaults). */
export function configKeyHelp(effective?: Readonly<Record<string, unknown>>): ConfigKeyHelp[] {
  const defaults = trainerConfigSchema.parse({}) as Record<string, unknown>;
  const rows: ConfigKeyHelp[] = [];
  const walk = (shape: Record<string, unknown>, prefix: string, values: Record<string, unknown>, current: Record<string, unknown>) => {
    for (const [key, schema] of Object.entries(shape)) {
      const path = prefix === '' ? key : `${prefix}.${key}`;
      const described = describeType(schema);
      if (described.object) {
        walk(described.object, path, (values[key] ?? {}) as Record<string, unknown>, (current[key] ?? {}) as Record<string, unknown>);
      } else {
        const defaultValue = JSON.stringify(values[key]);
        rows.push({ path, type: described.type, defaultValue, effectiveValue: key in current ? JSON.stringify(current[key]) : defaultValue, description: CONFIG_KEY_DOCS[path] ?? '' });
      }
    }
  };
  walk(describeType(trainerConfigSchema).object ?? {}, '', defaults, (effective ?? defaults) as Record<string, unknown>);
  return rows;
}

/** The configuration sections each command reads (`train` reads all). */
export const COMMAND_SECTIONS: Readonly<Record<CliCommand, readonly string[] | 'all'>> = {
  train: 'all',
  evaluate: ['model_settings', 'generation_settings', 'diffusion_settings', 'reward_settings', 'data_settings', 'validation_settings', 'output_settings', 'logging_settings'],
  enhance: ['model_settings', 'generation_settings', 'logging_settings'],
  doctor: [],
};

const USAGE: Readonly<Record<CliCommand, string>> = {
  train: '  vlm-grpo train    [--config file.json] [--resume] [options]   run GRPO training',
  evaluate: '  vlm-grpo evaluate [--config file.json] [options]              validate the configured policy',
  enhance: '  vlm-grpo enhance  [options] "a cat" "city at night" …         rewrite prompts with the policy',
  doctor: '  vlm-grpo doctor                                               what this machine can run (GPU, providers, backends)',
};

/** Options of {@link helpText}. */
export interface HelpOptions {
  /** The command whose help is shown (default: none: every command and every key). */
  command?: CliCommand;
  /** The effective configuration whose values are shown (default: the schema defaults). */
  effective?: Readonly<Record<string, unknown>>;
  /** Where the effective values come from, shown in the heading (default: `schema defaults`). */
  source?: string;
}

/** The `--help` text: every command, or one command's usage and the configuration keys it reads. */
export function helpText(options: HelpOptions = {}): string {
  const command = options.command;
  const lines = [
    'vlm-grpo trainer: GRPO training of a prompt enhancer with diffusion images and CLIP rewards.',
    '',
    'Usage:',
    ...(command ? [USAGE[command]] : Object.values(USAGE)),
    '',
    `From the repository root: npx nx run trainer:${command ?? 'train'} -- ${command === 'enhance' ? '"a cat"' : command === 'doctor' || command === 'evaluate' ? '--device cpu' : '--training_settings.num_iterations 2'}`,
  ];
  if (command === 'doctor') {
    lines.push('', 'Options:', '  -h, --help               this text', '', 'Exit status: 0 on success, 2 on usage errors.');
    return `${lines.join('\n')}\n`;
  }
  lines.push(
    '',
    'Options:',
    '  --config <file>          user configuration (JSON), layered: defaults ← config/default_config.json ← file ← flags',
    ...(command === undefined || command === 'train'
      ? [
          "  --resume                 continue the run in the output folder from its latest good checkpoint, with the run's own settings (flags on top, logged)",
          '  --resume=<folder>        continue from a specific checkpoint_iter_N folder',
          '  --allow-config-change    with --resume: accept flags that change what is trained (learning rate, batch, G, …)',
        ]
      : []),
    '  --output-dir <dir>       run folder (= --output_settings.output_dir)',
    `  --device <device>        ${deviceSchema.options.join(' | ')} (= --model_settings.device)`,
    '  --<key> <value>          any configuration key below, also as --<key>=<value>',
    '  -h, --help               this text',
    '',
    `Configuration keys (type; effective value from ${options.source ?? 'the schema defaults'}, and the schema default where it differs):`,
  );
  const sections = command === undefined ? 'all' : COMMAND_SECTIONS[command];
  let section = '';
  for (const row of configKeyHelp(options.effective)) {
    const top = row.path.split('.')[0]!;
    if (sections !== 'all' && !sections.includes(top)) continue;
    if (top !== section) {
      section = top;
      lines.push('', `  ${top}`);
    }
    const value = row.effectiveValue === row.defaultValue ? `${row.effectiveValue}` : `${row.effectiveValue}; schema default ${row.defaultValue}`;
    lines.push(`    ${row.path}  (${row.type}; ${value})`, `        ${row.description}`);
  }
  const aliases = Object.entries(ORIGINAL_CONFIG_NAMES).filter(([original]) => sections === 'all' || sections.includes(original.split('.')[0]!));
  if (aliases.length > 0) {
    lines.push('', "The original design's names are accepted too:", ...aliases.map(([original, ours]) => `  ${original} = ${ours}`));
  }
  lines.push('', 'Exit status: 0 on success or after a clean stop on SIGINT/SIGTERM, 1 on errors, 2 on usage and configuration errors.');
  return `${lines.join('\n')}\n`;
}
