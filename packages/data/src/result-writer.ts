/**
 * `ResultWriter`: the only way results reach disk in a run folder.
 *
 * - JSON and binary files are written atomically: to a temporary file in the same folder,
 *   flushed (`fsync`), then renamed over the target, so a reader or a crash never sees a
 *   half-written file.
 * - JSONL metrics are appended one complete line per write and flushed.
 * - A marker file (`.vlm-grpo-run.json`) records the run id; opening a folder that belongs to a
 *   different run is refused unless `overwrite` is set, and a non-empty folder that is not a run
 *   folder is never taken over.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, relative, resolve } from 'node:path';

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
}

/** Write `data` to `path` atomically (temp file in the same folder, fsync, rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  let handle: FileHandle | undefined;
  try {
    handle = await open(temporary, 'w');
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temporary, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await rm(temporary, { force: true }).catch(() => undefined);
    throw new DataError('DATA_WRITE_FAILED', `could not write ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Write `value` as pretty JSON (2-space indent, trailing newline) to `path` atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
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
    await mkdir(root, { recursive: true });
    const entries = await readdir(root);
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
        handle = mkdir(dirname(target), { recursive: true }).then(() => open(target, 'a'));
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
