#!/usr/bin/env node
/**
 * Command-line entry of the trainer: `node apps/trainer/dist/cli.js <train|evaluate|enhance|doctor>`,
 * behind the Nx targets `trainer:train`, `trainer:evaluate`, `trainer:enhance` and `trainer:doctor`.
 *
 * Exit status: 0 on success and after a clean stop on SIGINT/SIGTERM (checkpoint written),
 * 1 on errors (models, too many failures), 2 on usage and configuration errors.
 */

import { parseCliArguments, type CliArguments } from './cli/args.js';
import { helpText } from './cli/help.js';
import { nextCommands } from './cli/next-commands.js';
import { resolveTrainerConfig } from './config/load-config.js';
import { TrainerError } from './errors.js';
import { Logger } from './runtime/logger.js';
import { runIfEntryPoint } from './runtime/entry-point.js';
import { VLMGRPOSystem, type VLMGRPOSystemOptions } from './vlm-grpo-system.js';

/** Streams the CLI writes to (tests pass their own). */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/**
 * Run the CLI with `argv` (without node and the script); returns the exit status. `system` adds
 * options of the {@link VLMGRPOSystem} it builds (tests pass stand-in models and a base directory).
 */
export async function runCli(argv: readonly string[], io: CliIo = process, system: Omit<VLMGRPOSystemOptions, 'overrides' | 'resume'> = {}): Promise<number> {
  let args: CliArguments;
  try {
    args = parseCliArguments(argv);
  } catch (error) {
    io.stderr.write(`error: ${(error as Error).message}\n`);
    return 2;
  }
  if (args.help) {
    // Effective values: the configuration this command line would run with (schema defaults when it is invalid).
    let effective: Record<string, unknown> | undefined;
    let source = 'the schema defaults (the configuration given is invalid: run without --help to see why)';
    try {
      effective = await resolveTrainerConfig({ ...(args.configFile === undefined ? {} : { config: args.configFile }), overrides: args.overrides });
      source = ['config/default_config.json', ...(args.configFile === undefined ? [] : [args.configFile]), ...(Object.keys(args.overrides).length > 0 ? ['flags'] : [])].join(' ← ');
    } catch {
      effective = undefined;
    }
    io.stdout.write(helpText({ ...(args.commandGiven ? { command: args.command } : {}), ...(effective ? { effective } : {}), source }));
    return 0;
  }
  if (args.command === 'doctor') {
    const { formatDoctorReport, runDoctor } = await import('./system/doctor.js');
    io.stdout.write(formatDoctorReport(await runDoctor()));
    return 0;
  }
  if (args.command === 'enhance' && args.prompts.length === 0) {
    io.stderr.write('error: enhance needs at least one prompt, e.g. enhance "a cat"\nRun with --help for the list of commands and options.\n');
    return 2;
  }
  const logger = system.logger ?? new Logger();
  const run = new VLMGRPOSystem(args.configFile, { ...system, overrides: args.overrides, ...(args.resume === false ? {} : { resume: args.resume }), ...(args.allowConfigChange ? { allowConfigChange: true } : {}), logger });
  try {
    const config = await run.loadConfig();
    logger.level = config.logging_settings.level;
    if (args.command === 'train') {
      const results = await run.runTraining();
      io.stdout.write(`${results.status}: ${results.message}\nresults: ${results.files.run_folder}/final_results.json\n`);
      const next = nextCommands({ runFolder: results.files.run_folder, bestModel: results.files.best_model, ...(args.configFile === undefined ? {} : { configFile: args.configFile }), overrides: args.overrides });
      if (next.length > 0) io.stdout.write(`best model: ${results.files.run_folder}/${results.files.best_model}\n${next.map((line) => `  ${line}`).join('\n')}\n`);
    } else if (args.command === 'evaluate') {
      const { summary, directory } = await run.evaluate();
      io.stdout.write(`${JSON.stringify(summary, null, 2)}\nresults: ${directory}\n`);
    } else {
      for (const result of await run.enhance(args.prompts)) {
        io.stdout.write(`${result.prompt}\n  → ${result.enhanced}${result.fallback ? `  [fallback: ${result.reason ?? 'unknown'}]` : ''}\n`);
      }
    }
    return 0;
  } catch (error) {
    const message = TrainerError.isInstance(error) || (error as { code?: unknown }).code !== undefined ? `${(error as { code?: string }).code}: ${(error as Error).message}` : (error as Error).stack ?? String(error);
    logger.error(message);
    // Configuration errors are usage errors (exit 2), as for a bad flag.
    const code = (error as { code?: unknown }).code;
    return code === 'TRAINER_CONFIG_INVALID' || code === 'TRAINER_CONFIG_NOT_FOUND' ? 2 : 1;
  } finally {
    await run.dispose().catch(() => undefined);
  }
}

runIfEntryPoint(import.meta.url, runCli);
