/**
 * Graceful stop on SIGINT / SIGTERM: the first signal sets a flag that the training loop reads
 * between steps (it finishes the current step, writes a checkpoint and exits 0); a second signal
 * exits at once with status 130, for a user who does not want to wait.
 *
 * Behind a wrapper (`npx nx run trainer:train`, npm scripts, containers) one Ctrl-C often arrives
 * as two signals: the terminal's SIGINT and the wrapper's SIGTERM. A different signal within
 * {@link SAME_STOP_WINDOW_MS} of the first is the same stop, not a second one. Nx also stops
 * showing its child's output on Ctrl-C and may close the pipes: while installed, write errors on
 * stdout/stderr (EPIPE) are ignored so that the stop still completes (checkpoint, results), and
 * every stop message is in the run's log file, whose path the first message names.
 */
import type { Logger } from './logger.js';

/** Signals handled (default: SIGINT and SIGTERM). */
export type StopSignalName = 'SIGINT' | 'SIGTERM';

/** A different signal this soon after the first one is the same stop (milliseconds). */
export const SAME_STOP_WINDOW_MS = 3000;

/** Listens for stop signals while installed. */
export class StopSignal {
  private requestedBy: StopSignalName | 'request' | undefined;
  private readonly handlers = new Map<StopSignalName, () => void>();
  private readonly logger: Logger | undefined;
  private readonly exit: (code: number) => void;
  private readonly controller = new AbortController();
  private requestedAt = 0;
  private readonly ignoreWriteErrors = (error: NodeJS.ErrnoException) => {
    // A closed console (EPIPE: the wrapper exited) must not end a run that is saving its work.
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') this.logger?.debug(`console write failed: ${error.message}`);
  };

  constructor(options: { logger?: Logger; exit?: (code: number) => void } = {}) {
    this.logger = options.logger;
    this.exit = options.exit ?? ((code) => process.exit(code));
  }

  /** True once a stop was requested. */
  get requested(): boolean {
    return this.requestedBy !== undefined;
  }

  /** What requested the stop. */
  get reason(): StopSignalName | 'request' | undefined {
    return this.requestedBy;
  }

  /** Aborted when a stop is requested (to pass to long operations that accept a signal). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** Ask the loop to stop after the current step (what a signal does). */
  request(reason: StopSignalName | 'request' = 'request'): void {
    if (this.requestedBy !== undefined) return;
    this.requestedBy = reason;
    this.controller.abort(new Error(`stop requested (${reason})`));
  }

  /** Start listening for `signals`. */
  install(signals: readonly StopSignalName[] = ['SIGINT', 'SIGTERM']): this {
    for (const name of signals) {
      if (this.handlers.has(name)) continue;
      const handler = () => {
        if (this.requestedBy !== undefined && this.requestedBy !== 'request') {
          if (name !== this.requestedBy && Date.now() - this.requestedAt < SAME_STOP_WINDOW_MS) {
            this.logger?.debug(`${name} right after ${this.requestedBy}: the same stop (a wrapper such as Nx forwards both)`);
            return;
          }
          this.logger?.error(`${name} again: exiting now without a final checkpoint`);
          this.exit(130);
          return;
        }
        const log = this.logger?.file;
        this.logger?.warning(`${name} received: finishing the current step, then writing a checkpoint and exiting (send it again to exit at once)${log ? `; every message is also in ${log}` : ''}`);
        this.requestedBy = undefined;
        this.request(name);
        this.requestedAt = Date.now();
      };
      this.handlers.set(name, handler);
      process.on(name, handler);
    }
    if (!process.stdout.listeners('error').includes(this.ignoreWriteErrors)) {
      process.stdout.on('error', this.ignoreWriteErrors);
      process.stderr.on('error', this.ignoreWriteErrors);
    }
    return this;
  }

  /** Stop listening. */
  uninstall(): void {
    for (const [name, handler] of this.handlers) process.off(name, handler);
    this.handlers.clear();
    process.stdout.off('error', this.ignoreWriteErrors);
    process.stderr.off('error', this.ignoreWriteErrors);
  }
}
