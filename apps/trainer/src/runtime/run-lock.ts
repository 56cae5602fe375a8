/**
 * `RunLock`: one training process per run folder.
 *
 * The lock is a file (`.vlm-grpo-run.lock`) created with `O_EXCL` that records the owner's pid,
 * host name, process start time and a random token. It survives a crash (it is a file, not an
 * in-memory lock), so a later process must tell a live owner from a dead one:
 * - same host and the pid is not running (or runs a different process: its start time differs,
 *   the pid was reused) → stale: taken over, with a warning naming the dead owner;
 * - same host and the owner runs → refused, naming the pid that holds the folder;
 * - another host (a shared file system) → refused: liveness cannot be checked from here; the
 *   message says which host and pid and how to remove the lock once that process is gone.
 * Take-over renames the stale file aside and checks that it moved the file it judged (another
 * process may have taken it over in between), so two processes never both win.
 * The lock is removed on release and, synchronously, when the process exits.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';

import { TrainerError } from '../errors.js';
import type { Logger } from './logger.js';

/** Name of the lock file inside a run folder. */
export const RUN_LOCK_FILE = '.vlm-grpo-run.lock';

/** Content of the lock file. */
export interface RunLockOwner {
  /** Process id of the owner. */
  pid: number;
  /** Host name of the owner. */
  hostname: string;
  /** ISO time the lock was taken. */
  startedAt: string;
  /** Start time of the owner process (Linux: clock ticks since boot; null elsewhere), to detect pid reuse. */
  processStart: string | null;
  /** Random token: tells this lock from a later one of the same pid. */
  token: string;
  /** What holds it (e.g. `train`). */
  purpose: string;
}

/** Start time of process `pid` (field 22 of `/proc/<pid>/stat`), or null where unavailable. */
export function processStartTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** True when `owner` (on this host) is still running. */
export function ownerIsAlive(owner: RunLockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  const start = processStartTime(owner.pid);
  return owner.processStart === null || start === null || start === owner.processStart;
}

const describe = (owner: RunLockOwner): string => `pid ${owner.pid} on ${owner.hostname} (${owner.purpose}, since ${owner.startedAt})`;

/** An acquired lock of one run folder. */
export class RunLock {
  /** Path of the lock file. */
  readonly path: string;
  /** What this process wrote into it. */
  readonly owner: RunLockOwner;
  private released = false;
  private readonly onExit: () => void;

  private constructor(path: string, owner: RunLockOwner) {
    this.path = path;
    this.owner = owner;
    this.onExit = () => this.releaseSync();
    process.once('exit', this.onExit);
  }

  /**
   * Lock the run folder `directory` (which must exist) for this process.
   * @throws TrainerError `TRAINER_RUN_LOCKED` when a live process (or one on another host) holds it.
   */
  static async acquire(directory: string, options: { purpose?: string; logger?: Logger } = {}): Promise<RunLock> {
    const path = join(directory, RUN_LOCK_FILE);
    const owner: RunLockOwner = {
      pid: process.pid,
      hostname: hostname(),
      startedAt: new Date().toISOString(),
      processStart: processStartTime(process.pid),
      token: randomBytes(8).toString('hex'),
      purpose: options.purpose ?? 'train',
    };
    const text = `${JSON.stringify(owner, null, 2)}\n`;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const handle = await open(path, 'wx');
        try {
          await handle.writeFile(text);
          await handle.sync();
        } finally {
          await handle.close();
        }
        return new RunLock(path, owner);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
          throw new TrainerError('TRAINER_RUN_LOCKED', `the run folder ${directory} is not writable (${code}${code === 'EROFS' ? ': read-only file system' : ': permission denied'}); choose another --output-dir or fix its permissions`, { cause: error });
        }
        if (code !== 'EEXIST') {
          throw new TrainerError('TRAINER_RUN_LOCKED', `could not lock the run folder ${directory} (${path}): ${(error as Error).message}`, { cause: error });
        }
      }
      const raw = await readFile(path, 'utf8').catch(() => undefined);
      if (raw === undefined) continue; // released in between: try again
      let holder: RunLockOwner | undefined;
      try {
        holder = JSON.parse(raw) as RunLockOwner;
        if (typeof holder.pid !== 'number' || typeof holder.hostname !== 'string') holder = undefined;
      } catch {
        holder = undefined;
      }
      if (holder && holder.hostname !== owner.hostname) {
        throw new TrainerError(
          'TRAINER_RUN_LOCKED',
          `${directory} is locked by ${describe(holder)}, another machine: its liveness cannot be checked from ${owner.hostname}. ` +
            `If that process is gone, delete ${path} and run again.`,
        );
      }
      if (holder && ownerIsAlive(holder)) {
        if (holder.pid === process.pid && holder.token !== owner.token) {
          throw new TrainerError('TRAINER_RUN_LOCKED', `${directory} is already locked by this process (${describe(holder)}); one run per folder at a time`);
        }
        throw new TrainerError(
          'TRAINER_RUN_LOCKED',
          `${directory} is in use by a running training process: ${describe(holder)}. Two processes must not train into one run folder; ` +
            `wait for it to finish, stop it (Ctrl-C / kill -TERM ${holder.pid}), or choose another --output-dir.`,
        );
      }
      // Stale (dead owner, or an unreadable lock): move it aside, and check that it is the file judged.
      const aside = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
      try {
        await rename(path, aside);
      } catch {
        continue; // someone else took it over first
      }
      const moved = await readFile(aside, 'utf8').catch(() => '');
      if (moved !== raw) {
        // A fresh lock was moved by mistake: put it back and look again.
        await rename(aside, path).catch(() => undefined);
        continue;
      }
      await rm(aside, { force: true });
      options.logger?.warning(
        holder
          ? `taking over the lock of ${directory}: its owner ${describe(holder)} is not running (it crashed or was killed)`
          : `taking over the unreadable lock file ${path}`,
      );
    }
    throw new TrainerError('TRAINER_RUN_LOCKED', `could not lock the run folder ${directory}: the lock ${path} keeps changing (another process is starting there)`);
  }

  /** Remove the lock (if it is still this process's). */
  async release(): Promise<void> {
    process.off('exit', this.onExit);
    if (this.released) return;
    this.released = true;
    const current = await readFile(this.path, 'utf8').catch(() => undefined);
    if (current !== undefined && current.includes(this.owner.token)) await rm(this.path, { force: true });
  }

  private releaseSync(): void {
    if (this.released) return;
    this.released = true;
    try {
      if (readFileSync(this.path, 'utf8').includes(this.owner.token)) unlinkSync(this.path);
    } catch {
      // Already gone.
    }
  }
}
