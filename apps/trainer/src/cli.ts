#!/usr/bin/env node
/**
 * Command-line entry of the trainer: `node apps/trainer/dist/cli.js <train|evaluate|enhance|doctor>`,
 * behind the Nx targets `trainer:train`, `trainer:evaluate`, `trainer:enhance` and `trainer:doctor`.
 *
 * Exit status: 0 on success and after a clean stop on SIGINT/SIGTERM (checkpoint written),
 * 1 on errors (configuration, models, too many failures), 2 on usage errors.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { parseCliArguments, type CliArguments } from './cli/args.js';
import { helpText } from './cli/help.js';
import { TrainerError } from './errors.js';
import { Logger } from './runtime/logger.js';
import { VLMGRPOSystem } from './vlm-grpo-system.js';

/** Streams the CLI writes to (tests pass their own). */
export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
}

/** Run the CLI with `argv` (without node and the script); returns the exit status. */
export async function runCli(argv: readonly string[], io: CliIo = process): Promise<number> {
  let args: CliArguments;
  try {
    args = parseCliArguments(argv);
  } catch (error) {
    io.stderr.write(`error: ${(error as Error).message}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout.write(helpText());
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
  const logger = new Logger();
  const system = new VLMGRPOSystem(args.configFile, { overrides: args.overrides, ...(args.resume === false ? {} : { resume: args.resume }), logger });
  try {
    const config = await system.loadConfig();
    logger.level = config.logging_settings.level;
    if (args.command === 'train') {
      const results = await system.runTraining();
      io.stdout.write(`${results.status}: ${results.message}\nresults: ${results.files.run_folder}/final_results.json\n`);
    } else if (args.command === 'evaluate') {
      const { summary, directory } = await system.evaluate();
      io.stdout.write(`${JSON.stringify(summary, null, 2)}\nresults: ${directory}\n`);
    } else {
      for (const result of await system.enhance(args.prompts)) {
        io.stdout.write(`${result.prompt}\n  → ${result.enhanced}${result.fallback ? `  [fallback: ${result.reason ?? 'unknown'}]` : ''}\n`);
      }
    }
    return 0;
  } catch (error) {
    const message = TrainerError.isInstance(error) || (error as { code?: unknown }).code !== undefined ? `${(error as { code?: string }).code}: ${(error as Error).message}` : (error as Error).stack ?? String(error);
    logger.error(message);
    return 1;
  } finally {
    await system.dispose().catch(() => undefined);
  }
}

const invokedDirectly = (() => {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();

if (invokedDirectly) {
  void runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // Native thread pools (ONNX Runtime) can keep the process alive; results are on disk.
    setTimeout(() => process.exit(code), 200).unref();
  });
}
