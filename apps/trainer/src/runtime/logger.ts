/**
 * The trainer's logger: levels DEBUG < INFO < WARNING < ERROR, one line per message, written to
 * the console and, once a run folder is known, appended to its log file. The file has the full
 * stamp (`2026-01-01T12:00:00.000Z INFO message`); the console a short one (`12:00:00 message`,
 * the level named only when it is not INFO). Every console line goes to stderr, as Python's
 * logging and tqdm do: stdout carries results only (the run's results path, `enhance` output).
 * Lines logged before {@link Logger.attachFile} are kept and written to the file when it opens,
 * so the log file holds the whole run. A progress bar can register itself to be cleared and
 * redrawn around console lines.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** Log levels, lowest first. */
export const LOG_LEVELS = ['DEBUG', 'INFO', 'WARNING', 'ERROR'] as const;

/** One log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where console lines go (tests pass their own). */
export interface LogSink {
  /** Write a finished line (with its newline). */
  write(line: string, level: LogLevel): void;
}

/** Something drawn on the console that must be cleared before a line is printed (a progress bar). */
export interface ConsoleOverlay {
  /** Erase the overlay from the terminal. */
  clear(): void;
  /** Draw it again. */
  redraw(): void;
}

/** Options of {@link Logger}. */
export interface LoggerOptions {
  /** Lowest level written to the console and the file (default: `INFO`). */
  level?: LogLevel;
  /** Console sink (default: process stderr); `null` disables console output. */
  console?: LogSink | null;
  /** Clock, for tests (default: `() => new Date()`). */
  now?: () => Date;
}

const rank = (level: LogLevel): number => LOG_LEVELS.indexOf(level);

const processSink: LogSink = {
  write(line) {
    process.stderr.write(line);
  },
};

const two = (value: number): string => String(value).padStart(2, '0');

/** The console's stamp: local `HH:MM:SS`, then the level unless it is INFO. */
export function consoleStamp(date: Date, level: LogLevel): string {
  const time = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  return level === 'INFO' ? time : `${time} ${level}`;
}

/** Leveled logger writing to the console and a log file. */
export class Logger {
  /** Current lowest level. */
  level: LogLevel;
  private readonly sink: LogSink | null;
  private readonly now: () => Date;
  private filePath: string | undefined;
  private pending: string[] = [];
  private overlay: ConsoleOverlay | undefined;
  private fileFailed = false;

  constructor(options: LoggerOptions = {}) {
    this.level = options.level ?? 'INFO';
    this.sink = options.console === undefined ? processSink : options.console;
    this.now = options.now ?? (() => new Date());
  }

  /** Path of the log file, once attached. */
  get file(): string | undefined {
    return this.filePath;
  }

  /** Start appending to `path` (created with its folder); earlier lines are written first. */
  attachFile(path: string): void {
    mkdirSync(dirname(path), { recursive: true });
    this.filePath = path;
    const earlier = this.pending;
    this.pending = [];
    if (earlier.length > 0) this.appendToFile(earlier.join(''));
  }

  /** Register the progress bar (or remove it with `undefined`). */
  setOverlay(overlay: ConsoleOverlay | undefined): void {
    this.overlay = overlay;
  }

  /** True when `level` would be written. */
  enabled(level: LogLevel): boolean {
    return rank(level) >= rank(this.level);
  }

  debug(message: string): void {
    this.log('DEBUG', message);
  }

  info(message: string): void {
    this.log('INFO', message);
  }

  warning(message: string): void {
    this.log('WARNING', message);
  }

  error(message: string): void {
    this.log('ERROR', message);
  }

  /** Write `message` at `level` (multi-line messages keep their lines, each prefixed). */
  log(level: LogLevel, message: string): void {
    if (!this.enabled(level)) return;
    const now = this.now();
    const stamp = `${now.toISOString()} ${level}`;
    const lines = message.split('\n');
    const text = lines.map((line) => `${stamp} ${line}\n`).join('');
    if (this.sink) {
      const shown = consoleStamp(now, level);
      this.overlay?.clear();
      this.sink.write(lines.map((line) => `${shown} ${line}\n`).join(''), level);
      this.overlay?.redraw();
    }
    if (this.filePath === undefined) this.pending.push(text);
    else this.appendToFile(text);
  }

  private appendToFile(text: string): void {
    if (this.fileFailed || this.filePath === undefined) return;
    try {
      // Synchronous appends: a line logged just before a crash or SIGKILL is on disk.
      appendFileSync(this.filePath, text);
    } catch (error) {
      this.fileFailed = true;
      this.sink?.write(`${consoleStamp(this.now(), 'WARNING')} could not write the log file ${this.filePath}: ${(error as Error).message}; logging to the console only\n`, 'WARNING');
    }
  }
}
