/**
 * Checkpoints of a run: `checkpoint_iter_N/` folders inside the run folder, written atomically
 * and pruned to the last M.
 *
 * Atomicity: a checkpoint is written into a hidden temporary folder next to its target
 * (`.checkpoint_iter_N.tmp-<pid>-<random>`); its manifest (`checkpoint.json`) is written last;
 * the files are flushed, then the folder is renamed to `checkpoint_iter_N` (one rename, atomic on
 * POSIX file systems). A crash leaves either the previous checkpoints or the new one, never a
 * half-written `checkpoint_iter_N`; leftover temporary folders are removed by the next run.
 * A folder without a readable manifest is never reported as a checkpoint.
 *
 * Integrity: every file of the checkpoint is flushed (`fsync`) before the manifest is written, and
 * the manifest records each file's size and SHA-256; the folders are flushed too. Resuming
 * verifies a checkpoint against its manifest ({@link CheckpointManager.verify}) and falls back to
 * the newest checkpoint that verifies, with a warning naming the damaged file.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as bufferConstants } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { syncDirectory, writeJsonAtomic } from '@vlm-grpo/data';
import { z } from 'zod';

import { TrainerError } from '../errors.js';
import type { Logger } from './logger.js';

/** Largest Uint8Array length of this Node.js. */
const MAX_LENGTH = bufferConstants.MAX_LENGTH;

/** Name of the manifest inside a checkpoint folder. */
export const CHECKPOINT_MANIFEST = 'checkpoint.json';

/** Folder name of the checkpoint of iteration `iteration`. */
export const checkpointFolderName = (iteration: number): string => `checkpoint_iter_${iteration}`;

const CHECKPOINT_PATTERN = /^checkpoint_iter_(\d+)$/u;
const TEMPORARY_PATTERN = /^\.checkpoint_iter_\d+\.(tmp|old)-/u;

/** One file of a checkpoint, as its manifest records it. */
export const checkpointFileSchema = z.strictObject({
  /** Path relative to the checkpoint folder (`/`-separated). */
  path: z.string(),
  /** Size in bytes. */
  size: z.number().int().nonnegative(),
  /** SHA-256 of the content, hex. */
  sha256: z.string().regex(/^[0-9a-f]{64}$/u),
});

/** Schema of `checkpoint.json`, the manifest written last into every checkpoint. */
export const checkpointManifestSchema = z.strictObject({
  /** Format version. */
  format: z.literal('vlm-grpo-checkpoint/2'),
  /** Iterations completed when the checkpoint was written. */
  iteration: z.number().int().nonnegative(),
  /** ISO time of writing. */
  createdAt: z.string(),
  /**
   * Why it was written: on schedule, on a stop signal, on too many failures, at the end, or after
   * an error (the last completed iteration, so that nothing done is lost).
   */
  reason: z.enum(['scheduled', 'signal', 'failures', 'final', 'error']),
  /** Files of the checkpoint with their sizes and checksums. */
  files: z.array(checkpointFileSchema),
});

/** One file of a checkpoint manifest. */
export type CheckpointFile = z.infer<typeof checkpointFileSchema>;

/** Result of {@link CheckpointManager.verify}: ok, or the first damaged file and what is wrong. */
export type CheckpointVerification = { ok: true } | { ok: false; file: string; problem: string };

async function hashFile(path: string): Promise<{ size: number; sha256: string }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    size += (chunk as Buffer).byteLength;
  }
  return { size, sha256: hash.digest('hex') };
}

/** Flush a file's data to disk. */
async function syncFile(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A checkpoint manifest. */
export type CheckpointManifest = z.infer<typeof checkpointManifestSchema>;

/** A checkpoint found on disk. */
export interface CheckpointEntry {
  /** Iterations completed. */
  iteration: number;
  /** Absolute folder path. */
  path: string;
  /** Its manifest. */
  manifest: CheckpointManifest;
}

async function listFiles(folder: string, prefix = ''): Promise<string[]> {
  const entries = await readdir(join(folder, prefix), { withFileTypes: true });
  const files: string[] = [];
  for (const entry of entries.sort((left, right) => left.name.localeCompare(right.name))) {
    const relative = prefix === '' ? entry.name : `${prefix}/${entry.name}`;
    if (entry.isDirectory()) files.push(...(await listFiles(folder, relative)));
    else files.push(relative);
  }
  return files;
}


/** Options of {@link readLargeFile} (for tests: the defaults are the real limits). */
export interface ReadLargeFileOptions {
  /** Bytes per read call (default: 64 MiB). */
  chunkBytes?: number;
  /** Largest file that fits one array (default: `buffer.constants.MAX_LENGTH`, 4 GiB in Node.js 20). */
  maxBytes?: number;
}

/**
 * A whole file as one Uint8Array, read in chunks: `fs.readFile` refuses files over 2 GiB
 * (ERR_FS_FILE_TOO_LARGE, without the file's name), and a real-size policy's GRPO state is larger
 * (SmolLM2-135M: 2.15 GB of weights, reference and AdamW moments). A file larger than one array
 * can hold fails with its name, size and the limit.
 */
export async function readLargeFile(path: string, options: ReadLargeFileOptions = {}): Promise<Uint8Array> {
  const chunk = options.chunkBytes ?? 64 * 1024 ** 2;
  const max = options.maxBytes ?? MAX_LENGTH;
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size > max) {
      throw new TrainerError('TRAINER_CHECKPOINT_FAILED', `${path}: ${size} bytes, more than one array holds in this Node.js (${max} bytes)`);
    }
    const data = new Uint8Array(size);
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await handle.read(data, offset, Math.min(chunk, size - offset), offset);
      if (bytesRead === 0) throw new TrainerError('TRAINER_CHECKPOINT_FAILED', `${path}: the file ended at byte ${offset} of ${size} while it was read`);
      offset += bytesRead;
    }
    return data;
  } finally {
    await handle.close();
  }
}

/** Read and validate the manifest of a checkpoint folder (undefined when absent or invalid). */
export async function readCheckpointManifest(folder: string): Promise<CheckpointManifest | undefined> {
  try {
    const parsed = checkpointManifestSchema.safeParse(JSON.parse(await readFile(join(folder, CHECKPOINT_MANIFEST), 'utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Writes, lists and prunes the checkpoints of one run folder. */
export class CheckpointManager {
  /** The run folder. */
  readonly directory: string;
  /** Checkpoints kept (the newest). */
  readonly keep: number;
  private readonly logger: Logger | undefined;

  constructor(directory: string, options: { keep: number; logger?: Logger }) {
    if (!Number.isInteger(options.keep) || options.keep < 1) {
      throw new TrainerError('TRAINER_INVALID_ARGUMENT', `CheckpointManager: keep must be a positive integer, received ${options.keep}`);
    }
    this.directory = directory;
    this.keep = options.keep;
    this.logger = options.logger;
  }

  /** Remove temporary folders left by an interrupted write. */
  async cleanTemporary(): Promise<void> {
    const entries = await readdir(this.directory).catch(() => [] as string[]);
    for (const name of entries.filter((entry) => TEMPORARY_PATTERN.test(entry))) {
      this.logger?.debug(`removing the unfinished checkpoint folder ${name}`);
      await rm(join(this.directory, name), { recursive: true, force: true });
    }
  }

  /**
   * Write the checkpoint of `iteration`: `write(folder)` fills a temporary folder, then the
   * manifest is added and the folder renamed into place; older checkpoints beyond `keep` are
   * removed. Returns the checkpoint's path.
   */
  async save(iteration: number, reason: CheckpointManifest['reason'], write: (folder: string) => Promise<void>): Promise<string> {
    const name = checkpointFolderName(iteration);
    const target = join(this.directory, name);
    const temporary = join(this.directory, `.${name}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await rm(temporary, { recursive: true, force: true });
      await mkdir(temporary, { recursive: true });
      await write(temporary);
      const files: CheckpointFile[] = [];
      for (const path of await listFiles(temporary)) {
        // Data first: every file is on disk before the manifest that vouches for it.
        await syncFile(join(temporary, path));
        files.push({ path, ...(await hashFile(join(temporary, path))) });
      }
      for (const folder of new Set(files.map((file) => file.path.split('/').slice(0, -1).join('/')).filter((folder) => folder !== ''))) {
        await syncDirectory(join(temporary, folder));
      }
      const manifest: CheckpointManifest = { format: 'vlm-grpo-checkpoint/2', iteration, createdAt: new Date().toISOString(), reason, files };
      await writeJsonAtomic(join(temporary, CHECKPOINT_MANIFEST), manifest);
      await syncDirectory(temporary);
      const existing = await stat(target).then(() => true, () => false);
      if (existing) {
        // Replacing a checkpoint of the same iteration: move the old one aside first.
        const old = join(this.directory, `.${name}.old-${process.pid}-${randomBytes(4).toString('hex')}`);
        await rename(target, old);
        await rename(temporary, target);
        await rm(old, { recursive: true, force: true });
      } else {
        await rename(temporary, target);
      }
      await syncDirectory(this.directory);
    } catch (error) {
      await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
      throw new TrainerError('TRAINER_CHECKPOINT_FAILED', `could not write checkpoint ${target}: ${(error as Error).message}`, { cause: error });
    }
    await this.prune();
    return target;
  }

  /** Complete checkpoints, oldest first. */
  async list(): Promise<CheckpointEntry[]> {
    const entries = await readdir(this.directory).catch(() => [] as string[]);
    const found: CheckpointEntry[] = [];
    for (const name of entries) {
      const match = CHECKPOINT_PATTERN.exec(name);
      if (!match) continue;
      const path = join(this.directory, name);
      const manifest = await readCheckpointManifest(path);
      if (manifest === undefined) {
        this.logger?.warning(`${path} has no valid ${CHECKPOINT_MANIFEST}; it is not used as a checkpoint`);
        continue;
      }
      found.push({ iteration: Number(match[1]), path, manifest });
    }
    return found.sort((left, right) => left.iteration - right.iteration);
  }

  /** The newest complete checkpoint, if any (not verified: see {@link latestVerified}). */
  async latest(): Promise<CheckpointEntry | undefined> {
    return (await this.list()).at(-1);
  }

  /** Check every file of a checkpoint against its manifest (presence, size, SHA-256). */
  async verify(entry: CheckpointEntry): Promise<CheckpointVerification> {
    for (const file of entry.manifest.files) {
      const path = join(entry.path, file.path);
      const info = await stat(path).catch(() => undefined);
      if (!info?.isFile()) return { ok: false, file: path, problem: 'missing' };
      if (info.size !== file.size) return { ok: false, file: path, problem: `${info.size} bytes, the manifest says ${file.size}` };
      const { sha256 } = await hashFile(path);
      if (sha256 !== file.sha256) return { ok: false, file: path, problem: `SHA-256 ${sha256.slice(0, 12)}… differs from the manifest's ${file.sha256.slice(0, 12)}…` };
    }
    return { ok: true };
  }

  /**
   * The newest checkpoint that verifies ({@link verify}); each damaged newer one is reported with a
   * warning naming its bad file, and skipped.
   */
  async latestVerified(): Promise<CheckpointEntry | undefined> {
    const all = await this.list();
    for (let index = all.length - 1; index >= 0; index--) {
      const entry = all[index]!;
      const result = await this.verify(entry);
      if (result.ok) return entry;
      const previous = all[index - 1];
      this.logger?.warning(
        `checkpoint ${entry.path} is damaged (${result.file}: ${result.problem}); ` +
          (previous ? `falling back to the previous one, ${previous.path}` : 'no earlier checkpoint is left'),
      );
    }
    return undefined;
  }

  /** Delete all but the newest `keep` checkpoints. */
  async prune(): Promise<void> {
    const all = await this.list();
    for (const entry of all.slice(0, Math.max(0, all.length - this.keep))) {
      this.logger?.debug(`removing old checkpoint ${entry.path}`);
      await rm(entry.path, { recursive: true, force: true });
    }
  }
}
