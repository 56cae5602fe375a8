#!/usr/bin/env node
/**
 * Command line of the rollout worker: `vlm-grpo-worker [--config file] [--redis-url url]
 * [--worker-id id] [--device d] [--<dotted.key> value …]`, behind `npx nx run trainer:worker`.
 * The configuration resolves like the trainer's (defaults ← config/default_config.json ←
 * `--config` ← flags); give the worker the run's configuration. `--redis-url` is
 * `--rollout_settings.redis_url` (else env `VLM_GRPO_REDIS_URL`).
 *
 * Exit status: 0 after SIGINT/SIGTERM (the job in hand finishes first; a second signal abandons
 * it, and another worker takes it over), 1 on errors (configuration, models, Redis), 2 on usage
 * errors, 3 when the worker refused the run (its models or settings differ: the message names them).
 */
import { isAbsolute, resolve } from 'node:path';

import type { TrainerConfig } from '../config/config-schema.js';
import { parseCliValue, resolveTrainerConfig, type JsonObject } from '../config/load-config.js';
import { TrainerError } from '../errors.js';
import { Logger } from '../runtime/logger.js';
import { runIfEntryPoint } from '../runtime/entry-point.js';
import { RolloutWorker } from './worker.js';

/** Parsed worker command line. */
export interface WorkerArguments {
  configFile?: string;
  workerId?: string;
  overrides: JsonObject;
  help: boolean;
}

const SHORTCUTS: Record<string, string> = { 'redis-url': 'rollout_settings.redis_url', device: 'model_settings.device' };

/** Help text of the worker. */
export const WORKER_HELP = `vlm-grpo-worker: render and score rollout jobs of a vlm-grpo run from Redis (BullMQ).

usage: vlm-grpo-worker [--config file.json] [--redis-url redis://host:6379] [--worker-id id] [--<key> value …]

  --config <file>      the run's configuration (layered over config/default_config.json)
  --redis-url <url>    = --rollout_settings.redis_url (redis:// or rediss://; else env VLM_GRPO_REDIS_URL)
  --device <d>         = --model_settings.device (auto, cpu, webgpu, cuda)
  --worker-id <id>     name in results, logs and metrics (default: <host>-<pid>)
  --<dotted.key> <v>   any configuration key, e.g. --rollout_settings.queue_prefix my-run
  -h, --help           this text

Start one worker per GPU (or several per GPU to overlap their work); workers may join and leave
at any time. SIGTERM finishes the job in hand, then exits.
Exit status: 0 stopped by a signal, 1 error, 2 usage, 3 refused (configuration differs from the run's).
`;

/** Parse the worker's arguments (without node and the script). */
export function parseWorkerArguments(argv: readonly string[]): WorkerArguments {
  const result: WorkerArguments = { overrides: {}, help: false };
  for (let index = 0; index < argv.length; index++) {
    const argument = argv[index]!;
    if (argument === '-h' || argument === '--help') {
      result.help = true;
      continue;
    }
    if (!argument.startsWith('--')) throw new TrainerError('TRAINER_CLI_USAGE', `unexpected argument "${argument}"; run with --help`);
    const body = argument.slice(2);
    const equals = body.indexOf('=');
    const name = equals === -1 ? body : body.slice(0, equals);
    let value = equals === -1 ? undefined : body.slice(equals + 1);
    if (value === undefined) {
      const next = argv[index + 1];
      if (next === undefined || next.startsWith('--')) throw new TrainerError('TRAINER_CLI_USAGE', `--${name} needs a value`);
      value = next;
      index += 1;
    }
    if (name === 'config') result.configFile = value;
    else if (name === 'worker-id') result.workerId = value;
    else if (SHORTCUTS[name] !== undefined) result.overrides[SHORTCUTS[name]] = value;
    else if (/^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$/u.test(name)) result.overrides[name] = parseCliValue(value);
    else throw new TrainerError('TRAINER_CLI_USAGE', `unknown option "--${name}"; run with --help`);
  }
  return result;
}

/** Model paths that look like local paths, made absolute against the working directory (as the trainer does). */
function absoluteModels(config: TrainerConfig): TrainerConfig {
  const local = (value: string) => (isAbsolute(value) || value.startsWith('.') || value.startsWith('data/') || !/^[\w.-]+\/[\w.-]+$/u.test(value) ? resolve(value) : value);
  const m = config.model_settings;
  return { ...config, model_settings: { ...m, sd_model: local(m.sd_model), clip_model: local(m.clip_model) } };
}

/** Run a worker until a signal or a refusal; returns the exit status. */
export async function runWorkerCli(argv: readonly string[], io: { stdout: { write(text: string): unknown }; stderr: { write(text: string): unknown } } = process): Promise<number> {
  let args: WorkerArguments;
  try {
    args = parseWorkerArguments(argv);
  } catch (error) {
    io.stderr.write(`error: ${(error as Error).message}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout.write(WORKER_HELP);
    return 0;
  }
  const logger = new Logger();
  let worker: RolloutWorker | undefined;
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (!worker) process.exit(130);
    if (stopping) {
      logger.warning(`${signal} again: abandoning the job in hand (another worker takes it over)`);
      void worker.forceClose();
      return;
    }
    stopping = true;
    logger.info(`${signal}: finishing the job in hand, then exiting (send it again to stop at once)`);
    void worker.close();
  };
  try {
    const config = absoluteModels(
      await resolveTrainerConfig({ ...(args.configFile === undefined ? {} : { config: args.configFile }), overrides: args.overrides }),
    );
    logger.level = config.logging_settings.level;
    for (const signal of signals) process.on(signal, onSignal);
    worker = await RolloutWorker.start({ config, logger, ...(args.workerId === undefined ? {} : { workerId: args.workerId }) });
    const exit = await worker.done;
    return exit.reason === 'refused' ? 3 : 0;
  } catch (error) {
    logger.error(TrainerError.isInstance(error) ? `${error.code}: ${error.message}` : ((error as Error).stack ?? String(error)));
    await worker?.forceClose().catch(() => undefined);
    return 1;
  } finally {
    for (const signal of signals) process.off(signal, onSignal);
  }
}

runIfEntryPoint(import.meta.url, runWorkerCli);
