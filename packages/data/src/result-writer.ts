/**
 * `ResultWriter`: the only way results reach disk in a run folder.
 *
 * - JSON and binary files are written atomically: to a temporary file in the same folder,
 *   flushed (`fsync`), then renamed over the target, then the folder is flushed (so the rename
 *   itself survives a power loss); a reader or a crash never sees a half-written file.
 * - Folders are created one level at a time ({@link ensureDirectory}): Node's recursive `mkdir`
 *   never returns on some virtual file systems (`/proc/x`), and its errors name the wrong cause
 *   for read-only places; here every failure names the folder and why it cannot be written.
 * - JSONL metrics are appended one complete line per write and flushed.
 * - A marker file (`.vlm-grpo-run.json`) records the run id; opening a folder that belongs to a
 *   different run is refused unless `overwrite` is set, and a non-empty folder that is not a run
 *   folder is never taken over.
 */
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs/promises';
import { mkdir, open, readdir, readFile, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, parse, relative, resolve } from 'node:path';

import { DataError } from './errors.js';

/** Name of the marker file that identifies a run folder. */
export const RUN_MARKER_FILE = '.vlm-grpo-run.json';

/** Content of the run marker. */
export interface RunMarker {
  /** Identifier of the run that owns the folder. */
  runId: string;
  /** ISO time the folder was first opened by this run. */
  createdAt: string;
}

/** Options of {@link ResultWriter.open}. */
export interface ResultWriterOptions {
  /** Identifier of this run; reopening with the same id resumes in place. */
  runId: string;
  /**
   * Take over a folder that belongs to a different run, deleting its contents first
   * (default: false, which throws `DATA_RUN_DIRECTORY_CONFLICT`).
   */
  overwrite?: boolean;
  /**
   * Entry names that neither make a folder non-empty nor are deleted by `overwrite` (default:
   * none; the trainer passes its run lock, taken before the folder is opened).
   */
  ignoreEntries?: readonly string[];
}

/** A file handle as {@link writeFileAtomic} uses it (a subset of `fs/promises`' FileHandle). */
export interface AtomicFileHandle {
  writeFile(data: string | Uint8Array): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The file-system calls of {@link writeFileAtomic} (default: `node:fs/promises`). Tests pass a
 * layer that records or delays the calls, to observe the write order.
 */
export interface AtomicWriteFs {
  open(path: string, flags: string): Promise<AtomicFileHandle>;
  rename(from: string, to: string): Promise<void>;
  rm(path: string, options: { force: boolean }): Promise<void>;
}

/** Options of {@link writeFileAtomic}. */
export interface WriteFileAtomicOptions {
  /** File-system layer (default: `node:fs/promises`). */
  fs?: AtomicWriteFs;
}

const defaultFs: AtomicWriteFs = nodeFs as unknown as AtomicWriteFs;

const UNWRITABLE_CODES = new Set(['EACCES', 'EPERM', 'EROFS']);

/** One sentence on why `path` cannot be written, from a file-system error. */
function unwritable(path: string, error: unknown): string {
  const code = (error as { code?: string }).code;
  if (code !== undefined && UNWRITABLE_CODES.has(code)) {
    return `${path} is not writable (${code}${code === 'EROFS' ? ': read-only file system' : ': permission denied'}); choose a folder you can write to`;
  }
  return `${path}: ${(error as Error).message}`;
}

/**
 * Create `path` and its missing parents, one level at a time (what `mkdir -p` does, without the
 * endless loop of Node's recursive `mkdir` on `/proc/x`). Fails fast naming the folder and the
 * reason: a parent that is a file, a place where folders cannot be created (`/proc`, `/sys`), or
 * one that is not writable.
 * @throws DataError `DATA_WRITE_FAILED`.
 */
export async function ensureDirectory(path: string): Promise<void> {
  const target = resolve(path);
  const missing: string[] = [];
  let current = target;
  for (;;) {
    const info = await stat(current).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
      throw new DataError('DATA_WRITE_FAILED', `cannot create the folder ${target}: ${unwritable(current, error)}`, { cause: error });
    });
    if (info) {
      if (!info.isDirectory()) throw new DataError('DATA_WRITE_FAILED', `cannot create the folder ${target}: ${current} is a file, not a folder`);
      break;
    }
    missing.push(current);
    const parent = dirname(current);
    if (parent === current || current === parse(current).root) break;
    current = parent;
  }
  for (const folder of missing.reverse()) {
    try {
      await mkdir(folder);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && (await stat(folder).then((info) => info.isDirectory(), () => false))) continue;
      // ENOENT although the parent exists: a virtual file system (/proc) that has no folders to make.
      const reason = code === 'ENOENT' ? `${dirname(folder)} does not accept new folders (${code}); choose a folder on a regular file system` : unwritable(folder, error);
      throw new DataError('DATA_WRITE_FAILED', `cannot create the folder ${target}: ${reason}`, { cause: error });
    }
  }
}

/** Flush a folder's entries (a rename inside it) to disk; file systems that refuse it are skipped. */
export async function syncDirectory(path: string, fs: AtomicWriteFs = defaultFs): Promise<void> {
  let handle: AtomicFileHandle | undefined;
  try {
    handle = await fs.open(path, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Folders cannot be fsynced on some platforms and file systems (Windows, some FUSE mounts).
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM' && code !== 'EBADF' && code !== 'ENOTSUP') throw error;
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

/**
 * Write `data` to `path` atomically: a temporary file in the same folder, written and flushed
 * (`fsync`), renamed over `path`, then the folder flushed. A reader sees the old content or the
 * new one, never a mix; a crash at any point leaves one of them (and at worst a `*.tmp-*` file).
 * @throws DataError `DATA_WRITE_FAILED` naming the file and the cause (the old file is intact).
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: WriteFileAtomicOptions = {}): Promise<void> {
  const fs = options.fs ?? defaultFs;
  await ensureDirectory(dirname(path));
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  let handle: AtomicFileHandle | undefined;
  let renamed = false;
  try {
    handle = await fs.open(temporary, 'w');
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(temporary, path);
    renamed = true;
    await syncDirectory(dirname(path), fs);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    if (!renamed) await fs.rm(temporary, { force: true }).catch(() => undefined);
    const code = (error as { code?: string }).code;
    const reason = code !== undefined && UNWRITABLE_CODES.has(code) ? unwritable(dirname(path), error) : (error as Error).message;
    throw new DataError('DATA_WRITE_FAILED', `could not write ${path}: ${reason}`, { cause: error });
  }
}

/** Write `value` as pretty JSON (2-space indent, trailing newline) to `path` atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Create and delete a file in `folder`, so that a folder that cannot be written fails now, clearly. */
async function probeWritable(folder: string): Promise<void> {
  const probe = join(folder, `.vlm-grpo-write-test-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const handle = await open(probe, 'wx');
    await handle.close();
  } catch (error) {
    throw new DataError('DATA_WRITE_FAILED', `cannot write results to ${folder}: ${unwritable(folder, error)}`, { cause: error });
  }
  await rm(probe, { force: true });
}

/** Writes a run's results into one folder. */
export class ResultWriter {
  /** Absolute path of the run folder. */
  readonly directory: string;
  /** The run id that owns the folder. */
  readonly runId: string;
  /** True when the folder already belonged to this run (a resumed run). */
  readonly resumed: boolean;
  private readonly appendHandles = new Map<string, Promise<FileHandle>>();
  private appendQueue: Promise<unknown> = Promise.resolve();

  private constructor(directory: string, runId: string, resumed: boolean) {
    this.directory = directory;
    this.runId = runId;
    this.resumed = resumed;
  }

  /**
   * Open (creating if needed) the run folder `directory` for the run `runId`.
   * @throws DataError `DATA_RUN_DIRECTORY_CONFLICT` when the folder belongs to another run (and
   *   `overwrite` is false) or is a non-empty folder without a run marker.
   */
  static async open(directory: string, options: ResultWriterOptions): Promise<ResultWriter> {
    if (typeof options.runId !== 'string' || options.runId.trim() === '') {
      throw new DataError('DATA_INVALID_ARGUMENT', 'ResultWriter.open: runId must be a non-empty string');
    }
    const root = resolve(directory);
    await ensureDirectory(root);
    await probeWritable(root);
    const ignored = new Set(options.ignoreEntries ?? []);
    const entries = (await readdir(root)).filter((entry) => !ignored.has(entry));
    const markerPath = join(root, RUN_MARKER_FILE);
    let marker: RunMarker | undefined;
    if (entries.includes(RUN_MARKER_FILE)) {
      try {
        marker = JSON.parse(await readFile(markerPath, 'utf8')) as RunMarker;
      } catch (error) {
        throw new DataError('DATA_RUN_DIRECTORY_CONFLICT', `${markerPath}: unreadable run marker (${(error as Error).message}); remove the folder or choose another one`, { cause: error });
      }
    }
    if (marker?.runId === options.runId) return new ResultWriter(root, options.runId, true);
    if (marker) {
      if (!options.overwrite) {
        throw new DataError(
          'DATA_RUN_DIRECTORY_CONFLICT',
          `${root} holds the results of run "${marker.runId}" (started ${marker.createdAt}); refusing to mix run "${options.runId}" into it. Choose another output folder, resume that run, or pass overwrite to replace it.`,
        );
      }
      await Promise.all(entries.map((entry) => rm(join(root, entry), { recursive: true, force: true })));
    } else if (entries.length > 0) {
      throw new DataError(
        'DATA_RUN_DIRECTORY_CONFLICT',
        `${root} is not empty and is not a vlm-grpo run folder (no ${RUN_MARKER_FILE}); refusing to write into it. Choose an empty or new folder.`,
      );
    }
    await writeJsonAtomic(markerPath, { runId: options.runId, createdAt: new Date().toISOString() } satisfies RunMarker);
    return new ResultWriter(root, options.runId, false);
  }

  /** Absolute path of `relativePath` inside the run folder; refuses paths that leave it. */
  path(relativePath: string): string {
    const target = resolve(this.directory, normalize(relativePath));
    const inside = relative(this.directory, target);
    if (inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
      throw new DataError('DATA_INVALID_ARGUMENT', `ResultWriter: "${relativePath}" is not a file path inside ${this.directory}`);
    }
    return target;
  }

  /** Write `value` as JSON to `relativePath` atomically; returns the absolute path. */
  async writeJson(relativePath: string, value: unknown): Promise<string> {
    const target = this.path(relativePath);
    await writeJsonAtomic(target, value);
    return target;
  }

  /** Write text or bytes to `relativePath` atomically; returns the absolute path. */
  async writeFile(relativePath: string, data: string | Uint8Array): Promise<string> {
    const target = this.path(relativePath);
    await writeFileAtomic(target, data);
    return target;
  }

  /**
   * Append one JSON record as a line to `relativePath` and flush it to disk. Appends are
   * serialised, so concurrent calls never interleave within a line.
   */
  appendJsonl(relativePath: string, record: unknown): Promise<void> {
    const target = this.path(relativePath);
    const line = `${JSON.stringify(record)}\n`;
    const write = this.appendQueue.then(async () => {
      let handle = this.appendHandles.get(target);
      if (!handle) {
        handle = ensureDirectory(dirname(target)).then(() => open(target, 'a'));
        this.appendHandles.set(target, handle);
      }
      const file = await handle;
      await file.appendFile(line);
      await file.datasync();
    });
    this.appendQueue = write.catch(() => undefined);
    return write.catch((error: unknown) => {
      throw new DataError('DATA_WRITE_FAILED', `could not append to ${target}: ${(error as Error).message}`, { cause: error });
    });
  }

  /** Wait for pending appends and close the open JSONL files. */
  async close(): Promise<void> {
    await this.appendQueue;
    const handles = [...this.appendHandles.values()];
    this.appendHandles.clear();
    await Promise.all(handles.map(async (handle) => (await handle).close()));
  }
}
