import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DataError } from './errors.js';
import { RUN_MARKER_FILE, ResultWriter, ensureDirectory, writeFileAtomic, type AtomicWriteFs } from './result-writer.js';

const fixtures = fileURLToPath(new URL('./__fixtures__/', import.meta.url));

/** The atomic-write child (see __fixtures__/atomic-write-child.mjs), running from the sources. */
function spawnChild(args: string[]): { process: ChildProcess; ready: Promise<void>; exited: Promise<void> } {
  const child = spawn(process.execPath, ['--import', join(fixtures, 'ts-register.mjs'), join(fixtures, 'atomic-write-child.mjs'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      if (chunk.toString('utf8').includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before it was ready: ${stderr}`)));
  });
  return { process: child, ready, exited };
}

let root: string;
let folderCount = 0;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vlm-grpo-writer-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});
const freshFolder = () => join(root, `run-${folderCount++}`);

describe('ResultWriter', () => {
  it('creates the folder, writes JSON atomically and leaves no temporary files', async () => {
    const writer = await ResultWriter.open(freshFolder(), { runId: 'run-a' });
    expect(writer.resumed).toBe(false);
    const path = await writer.writeJson('nested/final_results.json', { reward: 1.5 });
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ reward: 1.5 });
    await Promise.all(Array.from({ length: 20 }, (_, index) => writer.writeJson('nested/final_results.json', { reward: index })));
    const final = JSON.parse(await readFile(path, 'utf8')) as { reward: number };
    expect(final.reward).toBeGreaterThanOrEqual(0);
    expect((await readdir(join(writer.directory, 'nested'))).sort()).toEqual(['final_results.json']);
    expect(JSON.parse(await readFile(join(writer.directory, RUN_MARKER_FILE), 'utf8')).runId).toBe('run-a');
  });

  it('keeps the previous file intact when a write fails half-way, and removes its temporary file', async () => {
    const folder = freshFolder();
    await mkdir(folder, { recursive: true });
    const target = join(folder, 'results.json');
    await writeFile(target, '{"ok":true}');
    // A disk that fills up after a few bytes: the data write fails after touching the disk.
    const fullDisk: AtomicWriteFs = {
      open: async (path, flags) => {
        const handle = await fs.open(path, flags);
        return {
          writeFile: async (data) => {
            await handle.writeFile(typeof data === 'string' ? data.slice(0, 3) : data.subarray(0, 3));
            throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
          },
          sync: () => handle.sync(),
          close: () => handle.close(),
        };
      },
      rename: (from, to) => fs.rename(from, to),
      rm: (path, options) => fs.rm(path, options),
    };
    const error = (await writeFileAtomic(target, '{"ok":false}', { fs: fullDisk }).catch((caught: unknown) => caught)) as DataError;
    expect(error).toMatchObject({ code: 'DATA_WRITE_FAILED' });
    expect(error.message).toContain(target);
    expect(error.message).toContain('ENOSPC');
    expect(await readFile(target, 'utf8')).toBe('{"ok":true}');
    expect(await readdir(folder)).toEqual(['results.json']);
  });

  it('writes a temporary file in the same folder, flushes it, then renames it over the target and flushes the folder', async () => {
    const folder = freshFolder();
    const target = join(folder, 'state.json');
    const calls: string[] = [];
    const recording: AtomicWriteFs = {
      open: async (path, flags) => {
        calls.push(`open ${relative(folder, path)} ${flags}`);
        const handle = await fs.open(path, flags);
        return {
          writeFile: async (data) => {
            calls.push('write');
            await handle.writeFile(data);
          },
          sync: async () => {
            calls.push('sync');
            await handle.sync();
          },
          close: async () => {
            calls.push('close');
            await handle.close();
          },
        };
      },
      rename: async (from, to) => {
        // The target must still hold nothing (or the old content) when the rename happens.
        calls.push(`rename ${relative(folder, from)} -> ${relative(folder, to)} (target ${await readFile(to, 'utf8').then((text) => text, () => 'absent')})`);
        await fs.rename(from, to);
      },
      rm: async (path, options) => {
        calls.push(`rm ${relative(folder, path)}`);
        await fs.rm(path, options);
      },
    };
    await writeFileAtomic(target, '{"v":1}', { fs: recording });
    expect(await readFile(target, 'utf8')).toBe('{"v":1}');
    const temporary = /^open (state\.json\.tmp-\d+-[0-9a-f]{8}) w$/u.exec(calls[0]!)?.[1];
    expect(temporary, calls[0]).toBeDefined();
    // Data flushed before the rename; the folder (the rename) flushed after it.
    expect(calls.slice(1)).toEqual(['write', 'sync', 'close', `rename ${temporary} -> state.json (target absent)`, 'open  r', 'sync', 'close']);
    calls.length = 0;
    await writeFileAtomic(target, '{"v":2}', { fs: recording });
    expect(calls[4]).toMatch(/^rename state\.json\.tmp-\d+-[0-9a-f]{8} -> state\.json \(target \{"v":1\}\)$/u);
    expect(await readFile(target, 'utf8')).toBe('{"v":2}');
  });

  it('a process killed between the data write and the rename leaves the old file whole', async () => {
    const folder = freshFolder();
    await mkdir(folder, { recursive: true });
    const target = join(folder, 'checkpoint.bin');
    await writeFile(target, 'old content');
    const child = spawnChild(['hang-before-rename', target, String(4 << 20)]);
    await child.ready;
    // The new data is written and flushed into the temporary file; the rename has not happened.
    const temporaries = (await readdir(folder)).filter((name) => name.includes('.tmp-'));
    expect(temporaries).toHaveLength(1);
    expect((await stat(join(folder, temporaries[0]!))).size).toBe(4 << 20);
    child.process.kill('SIGKILL');
    await child.exited;
    expect(await readFile(target, 'utf8')).toBe('old content');
  }, 60_000);

  it('a reader sees the old or the new file, never a mix, while a writer is killed at random moments', async () => {
    const folder = freshFolder();
    await mkdir(folder, { recursive: true });
    const target = join(folder, 'results.bin');
    const size = 2 << 20;
    let seen = 0;
    for (let round = 0; round < 4; round++) {
      const child = spawnChild(['loop', target, String(size)]);
      await child.ready;
      const deadline = Date.now() + 150 + round * 70;
      while (Date.now() < deadline) {
        const content = await readFile(target);
        expect(content.length).toBe(size);
        const first = content[0]!;
        expect(content.every((byte) => byte === first), 'a reader saw a mix of two writes').toBe(true);
        seen += 1;
      }
      child.process.kill('SIGKILL');
      await child.exited;
      const after = await readFile(target);
      expect(after.length).toBe(size);
      expect(after.every((byte) => byte === after[0])).toBe(true);
    }
    expect(seen).toBeGreaterThan(4);
  }, 120_000);

  it('reports a failed write as DATA_WRITE_FAILED naming the file, and cleans up', async () => {
    const writer = await ResultWriter.open(freshFolder(), { runId: 'run-f' });
    await mkdir(writer.path('taken'), { recursive: true });
    await writeFile(join(writer.path('taken'), 'inner'), 'x');
    // Renaming a file over a non-empty folder fails on every platform.
    const error = (await writer.writeJson('taken', { a: 1 }).catch((caught: unknown) => caught)) as DataError;
    expect(DataError.isInstance(error)).toBe(true);
    expect(error.code).toBe('DATA_WRITE_FAILED');
    expect(error.message).toContain(writer.path('taken'));
    expect((await readdir(writer.directory)).filter((name) => name.includes('.tmp-'))).toEqual([]);
  });

  it('fails fast with a clear error where folders cannot be created or written (/proc, /sys, a file as parent)', async () => {
    // Node's recursive mkdir never returns for /proc/x; this must fail at once.
    const proc = (await ResultWriter.open('/proc/vlm-grpo-test/run', { runId: 'run-p' }).catch((caught: unknown) => caught)) as DataError;
    expect(proc).toMatchObject({ code: 'DATA_WRITE_FAILED' });
    expect(proc.message).toContain('/proc/vlm-grpo-test/run');
    expect(proc.message).toMatch(/\/proc does not accept new folders/u);
    // sysfs refuses new files even to root: an existing folder that is not writable.
    const sys = (await ResultWriter.open('/sys/kernel', { runId: 'run-s' }).catch((caught: unknown) => caught)) as DataError;
    expect(sys).toMatchObject({ code: 'DATA_WRITE_FAILED' });
    expect(sys.message).toMatch(/^cannot write results to \/sys\/kernel: \/sys\/kernel is not writable \((EACCES|EPERM|EROFS)/u);
    expect(sys.message).not.toContain('ENOENT');
    const file = join(freshFolder(), 'plain-file');
    await mkdir(join(file, '..'), { recursive: true });
    await writeFile(file, 'x');
    await expect(ensureDirectory(join(file, 'sub'))).rejects.toThrow(`${file} is a file, not a folder`);
    await ensureDirectory(join(freshFolder(), 'a', 'b', 'c'));
  });

  it('appends JSONL lines in call order without interleaving', async () => {
    const writer = await ResultWriter.open(freshFolder(), { runId: 'run-b' });
    await Promise.all(Array.from({ length: 50 }, (_, step) => writer.appendJsonl('metrics.jsonl', { step, text: 'x'.repeat(step * 10) })));
    await writer.close();
    const lines = (await readFile(writer.path('metrics.jsonl'), 'utf8')).trimEnd().split('\n');
    expect(lines.map((entry) => (JSON.parse(entry) as { step: number }).step)).toEqual(Array.from({ length: 50 }, (_, step) => step));
  });

  it('resumes in a folder of the same run and refuses a different run', async () => {
    const folder = freshFolder();
    const first = await ResultWriter.open(folder, { runId: 'run-c' });
    await first.writeJson('keep.json', { kept: true });
    await first.appendJsonl('metrics.jsonl', { step: 1 });
    await first.close();
    const again = await ResultWriter.open(folder, { runId: 'run-c' });
    expect(again.resumed).toBe(true);
    await again.appendJsonl('metrics.jsonl', { step: 2 });
    await again.close();
    expect((await readFile(again.path('metrics.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(2);

    const conflict = (await ResultWriter.open(folder, { runId: 'run-d' }).catch((caught: unknown) => caught)) as DataError;
    expect(conflict.code).toBe('DATA_RUN_DIRECTORY_CONFLICT');
    expect(conflict.message).toContain('run-c');
    expect(JSON.parse(await readFile(join(folder, 'keep.json'), 'utf8'))).toEqual({ kept: true });

    const replaced = await ResultWriter.open(folder, { runId: 'run-d', overwrite: true });
    expect(replaced.resumed).toBe(false);
    expect((await readdir(folder)).sort()).toEqual([RUN_MARKER_FILE]);
  });

  it('never takes over a non-empty folder that is not a run folder', async () => {
    const folder = freshFolder();
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'thesis.tex'), 'precious');
    for (const overwrite of [false, true]) {
      await expect(ResultWriter.open(folder, { runId: 'run-e', overwrite })).rejects.toMatchObject({ code: 'DATA_RUN_DIRECTORY_CONFLICT' });
    }
    expect(await readFile(join(folder, 'thesis.tex'), 'utf8')).toBe('precious');
  });

  it('refuses paths outside the run folder and empty run ids', async () => {
    const writer = await ResultWriter.open(freshFolder(), { runId: 'run-g' });
    expect(() => writer.path('../escape.json')).toThrow(/not a file path inside/);
    expect(() => writer.path('/etc/passwd')).toThrow(/not a file path inside/);
    expect(() => writer.path('.')).toThrow(/not a file path inside/);
    await expect(ResultWriter.open(freshFolder(), { runId: ' ' })).rejects.toMatchObject({ code: 'DATA_INVALID_ARGUMENT' });
  });
});
