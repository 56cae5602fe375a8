/**
 * `--help` text, generated from the configuration schema: every leaf key with its type, its
 * default (the schema defaults, not the default file's values) and its documentation line.
 */
import { CONFIG_KEY_DOCS } from '../config/config-docs.js';
import { trainerConfigSchema } from '../config/config-schema.js';

/** One documented configuration key. */
export interface ConfigKeyHelp {
  /** Dotted path, e.g. `training_settings.learning_rate`. */
  path: string;
  /** Type as shown to users: `number`, `integer`, `boolean`, `string`, `"a" | "b"`, with `| null`. */
  type: string;
  /** Schema default, JSON-encoded. */
  defaultValue: string;
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

/** Every leaf key of the configuration, in schema order. */
export function configKeyHelp(): ConfigKeyHelp[] {
  const defaults = trainerConfigSchema.parse({}) as Record<string, unknown>;
  const rows: ConfigKeyHelp[] = [];
  const walk = (shape: Record<string, unknown>, prefix: string, values: Record<string, unknown>) => {
    for (const [key, schema] of Object.entries(shape)) {
      const path = prefix === '' ? key : `${prefix}.${key}`;
      const described = describeType(schema);
      if (described.object) {
        walk(described.object, path, (values[key] ?? {}) as Record<string, unknown>);
      } else {
        rows.push({ path, type: described.type, defaultValue: JSON.stringify(values[key]), description: CONFIG_KEY_DOCS[path] ?? '' });
      }
    }
  };
  walk(describeType(trainerConfigSchema).object ?? {}, '', defaults);
  return rows;
}

/** The full `--help` text. */
export function helpText(): string {
  const lines = [
    'vlm-grpo trainer: GRPO training of a prompt enhancer with diffusion images and CLIP rewards.',
    '',
    'Usage:',
    '  vlm-grpo train    [--config file.json] [--resume] [options]   run GRPO training',
    '  vlm-grpo evaluate [--config file.json] [options]              validate the configured policy',
    '  vlm-grpo enhance  [options] "a cat" "city at night" …         rewrite prompts with the policy',
    '  vlm-grpo doctor                                               what this machine can run (GPU, providers, backends)',
    '',
    'From the repository root: npx nx run trainer:train -- --training_settings.num_iterations 2',
    '',
    'Options:',
    '  --config <file>          user configuration (JSON), layered: defaults ← config/default_config.json ← file ← flags',
    '  --resume                 continue the run in the output folder from its latest checkpoint',
    '  --resume=<folder>        continue from a specific checkpoint_iter_N folder',
    '  --output-dir <dir>       run folder (= --output_settings.output_dir)',
    '  --device <device>        auto | cpu | webgpu | cuda | coreml (= --model_settings.device)',
    '  --<key> <value>          any configuration key below, also as --<key>=<value>',
    '  -h, --help               this text',
    '',
    'Configuration keys (type, schema default):',
  ];
  let section = '';
  for (const row of configKeyHelp()) {
    const top = row.path.split('.')[0]!;
    if (top !== section) {
      section = top;
      lines.push('', `  ${top}`);
    }
    lines.push(`    ${row.path}  (${row.type}; default ${row.defaultValue})`, `        ${row.description}`);
  }
  lines.push('', 'Exit status: 0 on success or after a clean stop on SIGINT/SIGTERM, 1 on errors, 2 on usage errors.');
  return `${lines.join('\n')}\n`;
}
