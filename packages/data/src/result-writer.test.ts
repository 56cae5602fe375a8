import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DataError } from './errors.js';
import { RUN_MARKER_FILE, ResultWriter, writeFileAtomic } from './result-writer.js';

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

  it('keeps the previous file intact when a write fails', async () => {
    const folder = freshFolder();
    await mkdir(folder, { recursive: true });
    const target = join(folder, 'results.json');
    await writeFile(target, '{"ok":true}');
    await chmod(folder, 0o500);
    const isRoot = process.getuid?.() === 0;
    try {
      const attempt = writeFileAtomic(target, '{"ok":false}');
      if (isRoot) await attempt; // root ignores folder permissions: the write succeeds whole.
      else await expect(attempt).rejects.toMatchObject({ code: 'DATA_WRITE_FAILED' });
    } finally {
      await chmod(folder, 0o700);
    }
    expect(await readFile(target, 'utf8')).toBe(isRoot ? '{"ok":false}' : '{"ok":true}');
    expect(await readdir(folder)).toEqual(['results.json']);
  });

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
