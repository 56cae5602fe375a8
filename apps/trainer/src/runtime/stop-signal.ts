/**
 * Graceful stop on SIGINT / SIGTERM: the first signal sets a flag that the training loop reads
 * between steps (it finishes the current step, writes a checkpoint and exits 0); a second signal
 * exits at once with status 130, for a user who does not want to wait.
 */
import type { Logger } from './logger.js';

/** Signals handled (default: SIGINT and SIGTERM). */
export type StopSignalName = 'SIGINT' | 'SIGTERM';

/** Listens for stop signals while installed. */
export class StopSignal {
  private requestedBy: StopSignalName | 'request' | undefined;
  private readonly handlers = new Map<StopSignalName, () => void>();
  private readonly logger: Logger | undefined;
  private readonly exit: (code: number) => void;
  private readonly controller = new AbortController();

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
          this.logger?.error(`${name} again: exiting now without a final checkpoint`);
          this.exit(130);
          return;
        }
        this.logger?.warning(`${name} received: finishing the current step, then writing a checkpoint and exiting (send it again to exit at once)`);
        this.requestedBy = undefined;
        this.request(name);
      };
      this.handlers.set(name, handler);
      process.on(name, handler);
    }
    return this;
  }

  /** Stop listening. */
  uninstall(): void {
    for (const [name, handler] of this.handlers) process.off(name, handler);
    this.handlers.clear();
  }
}
