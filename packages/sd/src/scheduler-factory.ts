/**
 * Build a scheduler from a diffusers class name (or short alias) and a `scheduler_config.json`
 * object, the equivalent of diffusers' `SchedulerClass.from_config(config, **overrides)`: keys of
 * the base config that the target class does not read are ignored, so a pipeline's PNDM config
 * can seed an Euler or DPM-Solver scheduler exactly as in diffusers.
 */
import { SdError } from './errors.js';
import type { Scheduler } from './scheduler.js';
import type { SchedulerConfig, SchedulerName } from './scheduler-config.js';
import { parseSchedulerConfig, SCHEDULER_ALIASES, SCHEDULER_NAMES } from './scheduler-config.js';
import { DDIMScheduler } from './scheduler-ddim.js';
import { DPMSolverMultistepScheduler } from './scheduler-dpm-solver.js';
import { EulerDiscreteScheduler } from './scheduler-euler.js';
import { EulerAncestralDiscreteScheduler } from './scheduler-euler-ancestral.js';
import { FlowMatchEulerDiscreteScheduler } from './scheduler-flow-match.js';
import { LCMScheduler } from './scheduler-lcm.js';
import { PNDMScheduler } from './scheduler-pndm.js';

/**
 * The scheduler choices of configuration files and command lines (snake_case), one per class this
 * package implements. The trainer's config schema and its `--help` list exactly these.
 */
export const SCHEDULER_CHOICES = ['pndm', 'ddim', 'euler', 'euler_ancestral', 'dpm_solver', 'lcm', 'flow_match_euler'] as const;

/** One of {@link SCHEDULER_CHOICES}. */
export type SchedulerChoice = (typeof SCHEDULER_CHOICES)[number];

/** The diffusers class of each {@link SCHEDULER_CHOICES} entry. */
export const SCHEDULER_CHOICE_CLASSES: Readonly<Record<SchedulerChoice, SchedulerName>> = {
  pndm: 'PNDMScheduler',
  ddim: 'DDIMScheduler',
  euler: 'EulerDiscreteScheduler',
  euler_ancestral: 'EulerAncestralDiscreteScheduler',
  dpm_solver: 'DPMSolverMultistepScheduler',
  lcm: 'LCMScheduler',
  flow_match_euler: 'FlowMatchEulerDiscreteScheduler',
};

/** Resolve a class name, choice or alias (`'euler'`, `'dpm_solver'`, `'dpm++2m'`, `'DDIMScheduler'`…) to a class name. */
export function resolveSchedulerName(name: string): SchedulerName {
  if ((SCHEDULER_NAMES as readonly string[]).includes(name)) return name as SchedulerName;
  const choice = name.toLowerCase();
  if (Object.hasOwn(SCHEDULER_CHOICE_CLASSES, choice)) return SCHEDULER_CHOICE_CLASSES[choice as SchedulerChoice];
  const alias = SCHEDULER_ALIASES[name.toLowerCase()];
  if (alias) return alias;
  const lower = name.toLowerCase();
  const byCase = SCHEDULER_NAMES.find((n) => n.toLowerCase() === lower);
  if (byCase) return byCase;
  throw new SdError(
    'SD_UNKNOWN_SCHEDULER',
    `unknown scheduler "${name}"; supported: ${SCHEDULER_CHOICES.join(', ')} (or the class names ${SCHEDULER_NAMES.join(', ')}; aliases: ${Object.keys(SCHEDULER_ALIASES).join(', ')})`,
  );
}

/** Where a scheduler comes from: a name, plus optional config keys overriding the base config. */
export interface SchedulerSpec {
  /** Class name or alias. */
  name: string;
  /** diffusers config keys (snake_case) applied over the model's `scheduler_config.json`. */
  config?: Record<string, unknown>;
}

/**
 * Create a scheduler.
 * @param spec class name/alias, or `{ name, config }`.
 * @param baseConfig the model's `scheduler_config.json` contents (keys read leniently, as diffusers).
 */
export function createScheduler(spec: string | SchedulerSpec, baseConfig: Record<string, unknown> = {}): Scheduler {
  const name = resolveSchedulerName(typeof spec === 'string' ? spec : spec.name);
  const base = parseSchedulerConfig(baseConfig, 'scheduler_config.json', false).config;
  const overrides =
    typeof spec === 'string' || !spec.config
      ? {}
      : parseSchedulerConfig(spec.config, `scheduler override for ${name}`, true).config;
  const config: SchedulerConfig = { ...base, ...overrides };
  switch (name) {
    case 'PNDMScheduler':
      return new PNDMScheduler(config);
    case 'DDIMScheduler':
      return new DDIMScheduler(config);
    case 'EulerDiscreteScheduler':
      return new EulerDiscreteScheduler(config);
    case 'EulerAncestralDiscreteScheduler':
      return new EulerAncestralDiscreteScheduler(config);
    case 'DPMSolverMultistepScheduler':
      return new DPMSolverMultistepScheduler(config);
    case 'LCMScheduler':
      return new LCMScheduler(config);
    case 'FlowMatchEulerDiscreteScheduler':
      return new FlowMatchEulerDiscreteScheduler(config);
  }
}

/**
 * Create the scheduler a model folder declares: `_class_name` of its `scheduler_config.json`.
 * Throws SD_UNKNOWN_SCHEDULER for classes this package does not implement.
 */
export function schedulerFromConfig(config: Record<string, unknown>): Scheduler {
  const cls = config['_class_name'];
  if (typeof cls !== 'string') {
    throw new SdError('SD_INVALID_MODEL', 'scheduler_config.json: missing string key "_class_name"');
  }
  return createScheduler(cls, config);
}
