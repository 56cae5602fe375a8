/**
 * Training progress: a one-line bar on a TTY (`iter 3/6 [=====>    ] 50% ETA 1m20s reward 0.412
 * kl 0.0031`), redrawn in place, or one plain log line per iteration otherwise. The ETA is the
 * mean seconds per iteration of this session times the iterations left.
 */
import type { ConsoleOverlay, Logger } from './logger.js';

/** A writable terminal (process.stdout or a test double). */
export interface ProgressStream {
  write(text: string): unknown;
  /** Terminal width in columns (default: 100). */
  columns?: number;
}

/** Options of {@link Progress}. */
export interface ProgressOptions {
  /** Total iterations of the run. */
  total: number;
  /** Iterations already done (a resumed run) (default: 0). */
  start?: number;
  /** `auto` draws a bar only when `stream.isTTY`, `always`, or `never` (default: `auto`). */
  mode?: 'auto' | 'always' | 'never';
  /** Where the bar is drawn (default: process.stderr, with the log lines; stdout carries results). */
  stream?: ProgressStream & { isTTY?: boolean };
  /** Logger for plain lines (and to clear the bar around log lines). */
  logger: Logger;
  /** Clock in milliseconds (default: `performance.now`). */
  now?: () => number;
}

/** Live values shown next to the bar. */
export interface ProgressValues {
  /** Mean reward of the iteration. */
  reward?: number;
  /** Mean KL to the reference. */
  kl?: number;
  /** Current stage, e.g. `rendering`. */
  stage?: string;
}

/** Format seconds as `1h02m`, `3m05s` or `12s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const total = Math.round(seconds);
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const rest = total % 60;
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, '0')}m`;
  if (minutes > 0) return `${minutes}m${String(rest).padStart(2, '0')}s`;
  return `${rest}s`;
}

const fixed = (value: number | undefined, digits: number): string => (value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits));

/** Progress of a training run (see the file header). */
export class Progress implements ConsoleOverlay {
  readonly total: number;
  readonly bar: boolean;
  private readonly stream: ProgressStream & { isTTY?: boolean };
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly startedAt: number;
  private readonly startIteration: number;
  private done: number;
  private values: ProgressValues = {};
  private drawn = false;

  constructor(options: ProgressOptions) {
    this.total = options.total;
    this.stream = options.stream ?? process.stderr;
    this.logger = options.logger;
    this.now = options.now ?? (() => performance.now());
    const mode = options.mode ?? 'auto';
    this.bar = mode === 'always' || (mode === 'auto' && this.stream.isTTY === true);
    this.startIteration = options.start ?? 0;
    this.done = this.startIteration;
    this.startedAt = this.now();
    if (this.bar) this.logger.setOverlay(this);
  }

  /** Seconds left, from this session's mean iteration time (NaN before the first iteration). */
  eta(): number {
    const finished = this.done - this.startIteration;
    if (finished <= 0) return Number.NaN;
    return ((this.now() - this.startedAt) / 1000 / finished) * (this.total - this.done);
  }

  /** The status line as drawn. */
  line(): string {
    const width = Math.max(10, Math.min(30, (this.stream.columns ?? 100) - 70));
    const fraction = this.total === 0 ? 1 : this.done / this.total;
    const filled = Math.round(fraction * width);
    const arrow = filled < width ? '>' : '';
    const bar = `[${'='.repeat(Math.max(0, filled - (arrow ? 1 : 0)))}${arrow}${' '.repeat(width - filled)}]`;
    const stage = this.values.stage ? ` ${this.values.stage}` : '';
    return `iter ${this.done}/${this.total} ${bar} ${Math.round(fraction * 100)}% ETA ${formatDuration(this.eta())} reward ${fixed(this.values.reward, 3)} kl ${fixed(this.values.kl, 4)}${stage}`;
  }

  /** Show the stage inside the current iteration (bar only). */
  stage(stage: string): void {
    this.values = { ...this.values, stage };
    if (this.bar) this.redraw();
  }

  /** An iteration finished: advance, show its reward and KL. */
  tick(iteration: number, values: ProgressValues): void {
    this.done = iteration;
    this.values = { reward: values.reward, kl: values.kl };
    if (this.bar) this.redraw();
    else this.logger.info(this.line());
  }

  clear(): void {
    if (!this.drawn) return;
    this.stream.write('\r\u001b[2K');
    this.drawn = false;
  }

  redraw(): void {
    this.stream.write(`\r\u001b[2K${this.line()}`);
    this.drawn = true;
  }

  /** Remove the bar and leave the terminal on a fresh line. */
  finish(): void {
    if (!this.bar) return;
    this.clear();
    this.logger.setOverlay(undefined);
  }
}
