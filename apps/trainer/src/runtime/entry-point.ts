/**
 * Running a command-line module when it is the process's entry point (`node dist/cli.js`, the
 * `vlm-grpo-worker` bin through its symlink), not when it is imported.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Whether the module at `moduleUrl` (its `import.meta.url`) is the script Node was started with (symlinks resolved). */
export function isEntryPoint(moduleUrl: string): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(moduleUrl));
  } catch {
    return false;
  }
}

/**
 * When `moduleUrl` is the entry point, run `main` with the command-line arguments and exit with
 * the code it returns. The exit is forced 200 ms later: native thread pools (ONNX Runtime) can
 * keep the process alive after the work is done.
 */
export function runIfEntryPoint(moduleUrl: string, main: (argv: string[]) => Promise<number>): void {
  if (!isEntryPoint(moduleUrl)) return;
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    setTimeout(() => process.exit(code), 200).unref();
  });
}
